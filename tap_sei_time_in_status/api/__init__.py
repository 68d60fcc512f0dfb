"""Talking to the SEI export API: one client, and everything that keeps its requests honest.

The client (`client`) sends create, poll and download requests; around it sit their retries
(`retries`), overall deadlines (`deadlines`), the request budget (`rate_limit`), the errors no
retry can cure (`network_errors`), export ids as data rather than syntax (`export_ids`), size
limits on what is read (`limits`), the key kept out of logs and values (`secrets_guard`), and
the switch that stops every request at once (`cancellation`). Nothing here knows of windows,
CSV rows or Singer messages.
"""
