"""From an export's CSV file to typed records: bytes, header, rows, periods, schema.

`csv_bytes` checks the file's bytes, `csv_header` decides from the header where each column
goes, `records` checks every row and then converts them, `periods` dates period labels, and
`schema` / `schema_growth` declare what the records look like.
"""
