//! Mappings shipped for common API gateways, each a TOML file beside this one, read
//! by the same code as a user's mapping. Each reads the gateway's documented JSON log
//! and takes the OAuth client id or API-key consumer as the credential; each file says
//! what to add to the gateway's log format where it logs no such identity by default.

/// Every preset: its name, what it reads, and its mapping.
pub const PRESETS: [(&str, &str, &str); 4] = [
    (
        "envoy",
        "Envoy JSON access log (Envoy Gateway's default format)",
        include_str!("presets/envoy.toml"),
    ),
    (
        "kong",
        "Kong http-log / file-log plugins",
        include_str!("presets/kong.toml"),
    ),
    (
        "aws-apigateway",
        "AWS API Gateway access logs, JSON `$context` format",
        include_str!("presets/aws-apigateway.toml"),
    ),
    (
        "nginx",
        "NGINX JSON access log (`log_format ... escape=json`)",
        include_str!("presets/nginx.toml"),
    ),
];

/// Whether `name` is a preset's.
pub fn is_preset(name: &str) -> bool {
    PRESETS.iter().any(|(preset, ..)| *preset == name)
}

/// Every preset's name, comma-separated (for messages).
pub fn names() -> String {
    PRESETS.map(|(preset, ..)| preset).join(", ")
}

/// The preset `name` as a mapping table.
pub(super) fn table(name: &str) -> Result<toml::Table, String> {
    let (_, _, text) = PRESETS
        .iter()
        .find(|(preset, ..)| *preset == name)
        .ok_or_else(|| format!("`preset`: `{name}` is not one of {}", names()))?;
    toml::from_str(text).map_err(|e| format!("preset `{name}` does not parse: {}", e.message()))
}
