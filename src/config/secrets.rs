//! librdkafka secrets (`sasl.password`, `ssl.key.password`, …): never printed, and a
//! config file holding one that others can read is worth a warning at start.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Whether a librdkafka property holds a secret.
pub fn is_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key == "ssl.key.pem"
        || key == "sasl.oauthbearer.config"
}

/// The properties with secret values replaced, for printing.
pub fn redacted(settings: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    settings
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret(k) {
                "<redacted>"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

/// A config file that holds secrets and that other users can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadableSecrets {
    /// The file.
    pub file: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The secret properties it holds.
    pub keys: Vec<String>,
}

impl fmt::Display for ReadableSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} holds {} and is readable by others (mode {:04o}): chmod 600 it, or pass \
             secrets as GRANTWATCH__KAFKA__LIBRDKAFKA__… environment variables",
            self.file.display(),
            self.keys.join(", "),
            self.mode & 0o7777,
        )
    }
}

/// The secrets `file_keys` (the `[kafka.librdkafka]` keys written in the file, not
/// those from the environment) put at risk, if `path` is readable by group or others.
pub fn readable_secrets(path: &Path, file_keys: &[String]) -> Option<ReadableSecrets> {
    let keys: Vec<String> = file_keys.iter().filter(|k| is_secret(k)).cloned().collect();
    if keys.is_empty() {
        return None;
    }
    let mode = mode(path)?;
    (mode & 0o077 != 0).then(|| ReadableSecrets {
        file: path.to_owned(),
        mode,
        keys,
    })
}

#[cfg(unix)]
fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_readable_files_flagged() {
        let settings: BTreeMap<String, String> = [
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "k"),
            ("sasl.username", "gw"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let shown = format!("{:?}", redacted(&settings));
        assert!(
            !shown.contains("hunter2") && shown.contains("\"gw\""),
            "{shown}"
        );

        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").expect("write");
        let set_mode = |mode| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
        };
        set_mode(0o644);
        let keys = |keys: &[&str]| keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
        let warning = readable_secrets(&file, &keys(&["sasl.password", "sasl.username"]));
        if cfg!(unix) {
            let warning = warning.expect("flagged");
            assert_eq!(warning.keys, ["sasl.password"]);
            assert!(warning.to_string().contains("mode 0644"), "{warning}");
        }
        set_mode(0o600);
        assert_eq!(readable_secrets(&file, &keys(&["sasl.password"])), None);
        set_mode(0o644);
        assert_eq!(readable_secrets(&file, &keys(&["sasl.username"])), None);
    }
}
