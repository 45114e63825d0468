#!/usr/bin/env python3
"""Splits every Parquet file under an archive into PARTS files, as a writer putting a
file every few seconds leaves it: the rows, order and schema stay the same.

  split.py ARCHIVE_DIR PARTS
"""
import pathlib
import sys

import pyarrow.parquet as pq


def main():
    root, parts = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    for path in sorted(root.rglob("*.parquet")):
        # ParquetFile, not read_table: the hive `date=` directory must not become a column.
        source = pq.ParquetFile(path)
        table = source.read()
        step = max(1, -(-table.num_rows // parts))
        for i, offset in enumerate(range(0, table.num_rows, step)):
            piece = path.with_name(f"{path.stem}-{i:03}.parquet")
            pq.write_table(table.slice(offset, step), piece,
                           compression="zstd",
                           use_dictionary=False)
        path.unlink()


if __name__ == "__main__":
    main()
