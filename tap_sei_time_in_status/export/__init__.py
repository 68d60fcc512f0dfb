"""One export's lifecycle, and many of them in flight: create -> poll -> download.

A job (`job`) drives one window's export through the API client, polling on its schedule
(`poll_schedule`), to a complete CSV file on disk, which `downloads` fetches (again while it
comes corrupt) into the run's private `temp_area`; the errors that stop a window say which
(`window_errors`). The pipeline (`pipeline`) keeps several in flight and hands them back in
window order; `progress` tells a person how far the sync is; `connection_test` is `--test`.
Nothing here parses CSV or writes Singer messages.
"""
