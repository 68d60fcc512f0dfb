"""What leaves the tap: RECORD lines or BATCH files, metrics, and the STATE that resumes a run.

`record_writer` writes RECORD lines directly when nothing would change them, `batches` writes
BATCH files window by window, `metrics` counts what was written per partition, `state` reads
and writes a partition's bookmark and in-flight exports, `state_budget` keeps the STATE bytes
of a sync linear in its windows.
"""
