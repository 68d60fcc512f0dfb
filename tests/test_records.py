"""CSV parsing: header-driven, typed, strict about what it cannot parse."""

from __future__ import annotations

import csv
import io
import math
import tempfile
import typing as t
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_sei_time_in_status.parsing.records import (
    CsvFormatError,
    RecordParser,
    long_records,
    read_records,
)

Record = dict[str, t.Any]

STATUS_COLUMNS = ["in_progress_hours", "qa_hours"]
STATIC = {"scope_id": "team_a", "export_id": "exp_1"}


def parse(path: Path, text: str | bytes, *, sprint: bool = False) -> list[dict[str, t.Any]]:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return list(
        read_records(
            path,
            status_columns=STATUS_COLUMNS,
            sprint=sprint,
            export_id="exp_1",
            static_fields=STATIC,
        )
    )


HEADER = (
    "granularity,team,team_hierarchy,total_issues,in_progress_hours,qa_hours,total_lead_time_hours"
)


def test_typed_records_with_static_fields(tmp_path: Path) -> None:
    records = parse(
        tmp_path / "a.csv",
        f"{HEADER}\r\nJan 2026,Platform Team,Engineering/Platform,2171,5284151.09,,13990379.22\r\n",
    )
    assert records == [
        {
            "scope_id": "team_a",
            "export_id": "exp_1",
            "period": "Jan 2026",
            "team": "Platform Team",
            "team_hierarchy": "Engineering/Platform",
            "total_issues": 2171,
            "in_progress_hours": 5284151.09,
            "qa_hours": None,
            "total_lead_time_hours": 13990379.22,
            "additional_columns": {},
        }
    ]


def test_header_order_bom_quotes_and_extra_columns(tmp_path: Path) -> None:
    text = (
        "\ufefftotal_lead_time_hours,to_do_hours,qa_hours,in_progress_hours,total_issues,"
        "team_hierarchy,team,granularity,owner\n"
        '3.5,1.25,,2,7,"Eng/Pay, ""Billing""","Payments, ""Billing""",2026-W02,\n'
    )
    [record] = parse(tmp_path / "b.csv", text.encode("utf-8"))
    assert record["team"] == 'Payments, "Billing"'
    assert record["team_hierarchy"] == 'Eng/Pay, "Billing"'
    assert record["period"] == "2026-W02"
    assert record["in_progress_hours"] == 2.0
    assert record["total_issues"] == 7
    assert record["additional_columns"] == {"to_do_hours": 1.25, "owner": None}


def test_sprint_column_is_required_for_sprint_aggregation(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="'sprint'"):
        parse(tmp_path / "c.csv", f"{HEADER}\n", sprint=True)
    [record] = parse(
        tmp_path / "d.csv", f"{HEADER},sprint\nQ1 2026,T,E/T,1,1,1,2,Sprint 4\n", sprint=True
    )
    assert record["sprint"] == "Sprint 4"
    assert record["additional_columns"] == {}


@pytest.mark.parametrize("column", ["granularity", "team"])
def test_missing_indispensable_column_names_the_export_column_and_header(
    tmp_path: Path, column: str
) -> None:
    header = [c for c in HEADER.split(",") if c != column]
    with pytest.raises(
        CsvFormatError,
        match=rf"export exp_1: the CSV has no column '{column}' \(its header: " + ", ".join(header),
    ):
        parse(tmp_path / "e.csv", ",".join(header) + "\n")


def parse_with_parser(path: Path, text: str, **kw: t.Any) -> tuple[RecordParser, list[Record]]:
    parsers: list[RecordParser] = []
    path.write_text(text)
    records = list(
        read_records(
            path,
            status_columns=kw.pop("status_columns", STATUS_COLUMNS),
            sprint=kw.pop("sprint", False),
            export_id="exp_1",
            static_fields=STATIC,
            on_header=parsers.append,
        )
    )
    return parsers[0], records


def test_optional_columns_missing_are_null_and_the_team_stands_in_for_its_hierarchy(
    tmp_path: Path,
) -> None:
    parser, records = parse_with_parser(
        tmp_path / "short.csv",
        "granularity,team,in_progress_hours\nJan 2026,Platform Team,1.5\nJan 2026,Pay,\n",
    )
    assert parser.missing_columns == [
        "team_hierarchy",
        "total_issues",
        "qa_hours",
        "total_lead_time_hours",
    ]
    assert records[0] == {
        "scope_id": "team_a",
        "export_id": "exp_1",
        "period": "Jan 2026",
        "team": "Platform Team",
        "team_hierarchy": "Platform Team",
        "total_issues": None,
        "in_progress_hours": 1.5,
        "qa_hours": None,
        "total_lead_time_hours": None,
        "additional_columns": {},
    }
    assert records[1]["team_hierarchy"] == "Pay"
    assert records[1]["in_progress_hours"] is None


def test_without_hierarchy_the_team_keys_the_duplicate_check(tmp_path: Path) -> None:
    text = "granularity,team,total_issues\nJan 2026,A,1\nJan 2026,B,1\nJan 2026,A,2\n"
    with pytest.raises(
        CsvFormatError,
        match=r"lines 2 and 4 have the same key \(period='Jan 2026', team_hierarchy='A'\)",
    ):
        parse_with_parser(tmp_path / "dup.csv", text)
    _, records = parse_with_parser(tmp_path / "ok.csv", text.removesuffix("Jan 2026,A,2\n"))
    assert [r["team_hierarchy"] for r in records] == ["A", "B"]


def test_header_names_match_after_trimming_and_case_folding(tmp_path: Path) -> None:
    lower = (
        "granularity,team,team_hierarchy,total_issues,in_progress_hours,qa_hours,"
        "total_lead_time_hours,to_do_hours,owner\n"
    )
    folded = (
        " Granularity ,TEAM,Team_Hierarchy,TOTAL_ISSUES,In_Progress_Hours, QA_HOURS,"
        "Total_Lead_Time_Hours,To_Do_Hours,Owner\n"
    )
    row = "Jan 2026,T,E/T,3,1.5,,4,2.5,ann\n"
    parser, records = parse_with_parser(tmp_path / "f.csv", folded + row)
    assert parser.missing_columns == []
    assert records == parse_with_parser(tmp_path / "l.csv", lower + row)[1]
    assert records[0]["additional_columns"] == {"to_do_hours": 2.5, "owner": "ann"}
    assert records[0]["in_progress_hours"] == 1.5


def test_a_header_repeating_a_name_after_folding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="the CSV header repeats qa_hours"):
        parse(tmp_path / "r.csv", f"{HEADER},QA_Hours\n")


@pytest.mark.parametrize("name", ["sprint", "sprint_name", "SPRINT", "Sprint_Name", " Sprint "])
def test_sprint_column_under_the_names_an_api_would_use(tmp_path: Path, name: str) -> None:
    _, [record] = parse_with_parser(
        tmp_path / "s.csv", f"{HEADER},{name}\nQ1 2026,T,E/T,1,1,1,2,Sprint 4\n", sprint=True
    )
    assert record["sprint"] == "Sprint 4"
    assert record["additional_columns"] == {}


def test_without_a_sprint_column_sprint_aggregation_fails_naming_the_header(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        CsvFormatError,
        match=r"export exp_1: the CSV has no sprint column \('sprint' or 'sprint_name', any "
        r"case\), which aggregation_level sprint needs \(its header: granularity, team, ",
    ):
        parse(tmp_path / "n.csv", f"{HEADER},sprint_id\n", sprint=True)


def test_sprint_is_preferred_to_sprint_name_which_is_then_kept(tmp_path: Path) -> None:
    _, [record] = parse_with_parser(
        tmp_path / "b.csv",
        f"{HEADER},sprint_name,Sprint\nQ1 2026,T,E/T,1,1,1,2,S-4,S4\n",
        sprint=True,
    )
    assert record["sprint"] == "S4"
    assert record["additional_columns"] == {"sprint_name": "S-4"}


def test_long_records_only_for_the_measured_statuses(tmp_path: Path) -> None:
    parser, [record] = parse_with_parser(
        tmp_path / "m.csv",
        "granularity,team,in_progress_hours,to_do_hours\nJan 2026,T,1.5,\n",
    )
    statuses = {"In Progress": "in_progress_hours", "QA": "qa_hours"}
    measured = {s: c for s, c in statuses.items() if c not in parser.missing_columns}
    assert [
        (r["status"], r["hours"], r["team_hierarchy"]) for r in long_records(record, measured)
    ] == [
        ("In Progress", 1.5, "T"),
        ("to_do", None, "T"),
    ]


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "1_000"])
def test_unparseable_number_names_export_line_and_column(tmp_path: Path, bad: str) -> None:
    text = f"{HEADER}\nJan 2026,T,E/T,1,1,1,2\nFeb 2026,T,E/T,1,{bad},1,2\n"
    with pytest.raises(CsvFormatError, match=r"export exp_1, line 3, column 'in_progress_hours'"):
        parse(tmp_path / "f.csv", text)


def test_integer_column_accepts_whole_floats_only(tmp_path: Path) -> None:
    [record] = parse(tmp_path / "g.csv", f"{HEADER}\nJan 2026,T,E/T,12.0,1,1,2\n")
    assert record["total_issues"] == 12
    assert isinstance(record["total_issues"], int)
    with pytest.raises(CsvFormatError, match="total_issues"):
        parse(tmp_path / "h.csv", f"{HEADER}\nJan 2026,T,E/T,12.5,1,1,2\n")


def test_ragged_row_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="line 2: 8 cells, the header has 7"):
        parse(tmp_path / "i.csv", f"{HEADER}\nJan 2026,T,E/T,1,1,1,2,9\n")


def test_header_only_is_no_rows_and_empty_file_is_an_error(tmp_path: Path) -> None:
    assert parse(tmp_path / "j.csv", f"{HEADER}\r\n") == []
    with pytest.raises(CsvFormatError, match="empty"):
        parse(tmp_path / "k.csv", "")


cells = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(team=cells, hierarchy=cells, period=cells)
def test_any_quoted_cell_round_trips(team: str, hierarchy: str, period: str) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER.split(","))
    writer.writerow([period, team, hierarchy, "1", "1.5", "", "2"])
    with tempfile.TemporaryDirectory() as tmp:
        [record] = parse(Path(tmp) / "p.csv", buffer.getvalue())
    assert (record["period"], record["team"], record["team_hierarchy"]) == (period, team, hierarchy)


def test_duplicate_keys_within_one_export_are_refused(tmp_path: Path) -> None:
    text = f"{HEADER}\nJan 2026,A,E/A,1,1,1,2\nJan 2026,B,E/B,1,1,1,2\nJan 2026,A2,E/A,3,1,1,2\n"
    with pytest.raises(
        CsvFormatError,
        match=r"export exp_1: lines 2 and 4 have the same key \(period='Jan 2026', "
        r"team_hierarchy='E/A'\)",
    ):
        parse(tmp_path / "dup.csv", text)


def test_same_team_in_other_periods_is_not_a_duplicate(tmp_path: Path) -> None:
    text = f"{HEADER}\nJan 2026,A,E/A,1,1,1,2\nFeb 2026,A,E/A,1,1,1,2\nMar 2026,A,E/A,1,1,1,2\n"
    assert len(parse(tmp_path / "ok.csv", text)) == 3


def test_duplicates_are_found_in_an_export_not_grouped_by_period(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\nJan 2026,A,E/A,1,1,1,2\nFeb 2026,A,E/A,1,1,1,2\n"
        '"Jan 2026","B\nmultiline",E/B,1,1,1,2\nJan 2026,A,E/A,1,1,1,2\n'
    )
    with pytest.raises(CsvFormatError, match="lines 2 and 6 have the same key"):
        parse(tmp_path / "unsorted.csv", text)
    ungrouped_ok = (
        f"{HEADER}\nJan 2026,A,E/A,1,1,1,2\nFeb 2026,A,E/A,1,1,1,2\nJan 2026,B,E/B,1,1,1,2\n"
    )
    assert len(parse(tmp_path / "unsorted-ok.csv", ungrouped_ok)) == 3


def test_sprint_is_part_of_the_key(tmp_path: Path) -> None:
    text = f"{HEADER},sprint\nQ1 2026,T,E/T,1,1,1,2,S1\nQ1 2026,T,E/T,1,1,1,2,S2\n"
    assert len(parse(tmp_path / "s.csv", text, sprint=True)) == 2
    with pytest.raises(CsvFormatError, match="sprint='S1'"):
        parse(tmp_path / "s2.csv", text + "Q1 2026,T,E/T,1,1,1,2,S1\n", sprint=True)


# --- cells a warehouse cannot hold, or that mean nothing (issue 18) -------------------------


@pytest.mark.parametrize(
    ("cell", "column"),
    [
        ("\u0661\u0662", "total_issues"),  # Arabic-Indic: int() reads 12
        ("\uff11\uff12", "total_issues"),  # full-width
        ("\u0967\u0968.5", "in_progress_hours"),  # Devanagari: float() reads 12.5
        ("\u00a012.5", "in_progress_hours"),  # padded with a no-break space
        ("1_2", "total_issues"),
    ],
)
def test_digits_outside_ascii_are_not_numbers(tmp_path: Path, cell: str, column: str) -> None:
    cells = {"total_issues": "1", "in_progress_hours": "1"} | {column: cell}
    text = f"{HEADER}\nJan 2026,T,E/T,{cells['total_issues']},{cells['in_progress_hours']},1,2\n"
    with pytest.raises(CsvFormatError, match=rf"line 2, column '{column}': .* is not a number"):
        parse(tmp_path / "u.csv", text)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("-1,1,1,2", "total_issues"),
        ("-1.0,1,1,2", "total_issues"),
        ("1,-0.5,1,2", "in_progress_hours"),
        ("1,1,-1e3,2", "qa_hours"),
        ("1,1,1, -2 ", "total_lead_time_hours"),
    ],
)
def test_negative_hours_and_counts_are_refused(tmp_path: Path, row: str, column: str) -> None:
    text = f"{HEADER},to_do_hours\nJan 2026,T,E/T,{row},0\n"
    with pytest.raises(CsvFormatError, match=rf"line 2, column '{column}': .* is negative"):
        parse(tmp_path / "n.csv", text)
    with pytest.raises(CsvFormatError, match=r"column 'to_do_hours': '-3' is negative"):
        parse(tmp_path / "x.csv", f"{HEADER},to_do_hours\nJan 2026,T,E/T,1,1,1,2,-3\n")


def test_zero_with_a_sign_and_plus_signs_are_numbers(tmp_path: Path) -> None:
    [record] = parse(tmp_path / "z.csv", f"{HEADER}\nJan 2026,T,E/T,+3,-0,+0.5, 2 \n")
    assert (record["total_issues"], record["in_progress_hours"]) == (3, 0.0)
    assert (record["qa_hours"], record["total_lead_time_hours"]) == (0.5, 2.0)


def test_a_negative_zero_is_emitted_as_zero(tmp_path: Path) -> None:
    # JSON would carry -0.0, which some warehouses keep and show as "-0".
    [record] = parse(tmp_path / "z.csv", f"{HEADER}\nJan 2026,T,E/T,1,-0,  -0.0 ,-1e-400\n")
    for field in ("in_progress_hours", "qa_hours", "total_lead_time_hours"):
        assert record[field] == 0.0
        assert math.copysign(1.0, record[field]) == 1.0, field


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f"{HEADER}\nJan 2026,T\0am,E/T,1,1,1,2\n", "line 2, column 'team'"),
        (
            f"{HEADER},owner\nJan 2026,T,E/T,1,1,1,2,a\nJan 2026,U,E/U,1,1,1,2,\0\n",
            "line 3, column 'owner'",
        ),
        (f'{HEADER}\nJan 2026,"T\n\0",E/T,1,1,1,2\n', "line 3, column 'team'"),
        (f"{HEADER}\nJan 2026,T,E/T,1,1\0,1,2\n", "line 2, column 'in_progress_hours'"),
        (f"{HEADER},\0\nJan 2026,T,E/T,1,1,1,2,x\n", "line 1:"),
    ],
)
def test_a_nul_byte_anywhere_names_its_line_and_column(
    tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(CsvFormatError, match=rf"export exp_1, {where}.* a NUL byte"):
        parse(tmp_path / "nul.csv", text)


@pytest.mark.parametrize("extra", [40, 5000])
def test_rows_of_many_number_columns_are_checked_alike(tmp_path: Path, extra: int) -> None:
    names = ",".join(f"s{i}_hours" for i in range(extra))
    cells = ",".join(["1.5"] * extra)
    good = f"{HEADER},{names}\nJan 2026,T,E/T,1,1,1,2,{cells}\n"
    [record] = parse(tmp_path / "w.csv", good)
    assert len(record["additional_columns"]) == extra
    for bad, problem in (("x", "is not a number"), ("-1", "is negative")):
        last = ",".join(["1.5"] * (extra - 1) + [bad])
        with pytest.raises(CsvFormatError, match=rf"column 's{extra - 1}_hours': .*{problem}"):
            parse(tmp_path / "w2.csv", f"{HEADER},{names}\nJan 2026,T,E/T,1,1,1,2,{last}\n")


def test_a_header_beyond_max_columns_is_refused_naming_a_few(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(f"{HEADER},{','.join(f'c{i}' for i in range(200))}\n")
    with pytest.raises(
        CsvFormatError, match=r"207 columns, more than max_csv_columns \(100\)"
    ) as e:
        list(
            read_records(
                path,
                status_columns=STATUS_COLUMNS,
                sprint=False,
                export_id="exp_1",
                static_fields=STATIC,
                max_columns=100,
            )
        )
    assert "and 187 more" in str(e.value)
    assert len(str(e.value)) < 1000
