"""Talking to the SEI export API: one client, and everything that keeps its requests honest.

The client (`client`) makes the create, poll and download calls; it composes the sending of a
request (`sender`) hop by hop under the redirect rule (`redirects`), an attempt's deadlines
(`attempts`, over the watchdog of `deadlines`), and the reading and judging of answers
(`answers`), with the errors they raise (`api_errors`). Around them sit the retries
(`retries`), the request budget (`rate_limit`), the errors no retry can cure
(`network_errors`), export ids as data rather than syntax (`export_ids`), size limits on what
is read (`limits`), the key kept out of logs and values (`secrets_guard`), and the switch that
stops every request at once (`cancellation`). Nothing here knows of windows, CSV rows or
Singer messages.
"""
