"""Pure logic of the engine matrix: what each case must score on every lane (the assertions of
tests/grader/test_labs.py, applied to the grader's ``--json`` output), the comparison of check
statuses across lanes, and the summary table. No Docker here: tests/unit/test_engines_matrix.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

KINDS = ("solution", "starter", "mutant", "alternative")


@dataclass(frozen=True)
class Case:
    lab: str
    kind: str                     # one of KINDS
    name: str                     # "solution", "starter" or the variant's folder name
    fails: frozenset = field(default_factory=frozenset)   # mutants: the checks that must fail

    @property
    def id(self) -> str:
        return f"{self.lab}/{self.kind}/{self.name}" if self.kind in ("mutant", "alternative") \
            else f"{self.lab}/{self.kind}"


# Differences that come from an engine, not from the grader: (lane, case id) -> why. They are
# printed with their reason and do not fail a run; an entry whose case behaves as expected again
# is reported, so that it goes. Keep this short: each entry is a student who gets another grade.
KNOWN: dict[tuple[str, str], str] = {
    ("podman", "04-registre/alternative/build-then-tag-all-tags"):
        "Podman's Docker-compatible push takes one tag: `docker push --all-tags` delivers only "
        "`latest` (lab 04's advice names it)",
}


def triage(entry: dict, known: dict = KNOWN, engine_bound: bool = False) -> tuple[bool, list[str], list[str]]:
    """``(bad, excused, stale)`` for one case entry of matrix.json (``lanes`` and ``differences``
    filled in): bad when a problem or a difference remains once the lanes with a known reason are
    set aside; ``excused`` the reasons used; ``stale`` the known lanes where the case now behaves."""
    lanes = entry["lanes"]
    flagged = {lane for lane in lanes if (lane, entry["id"]) in known}
    stale = [lane for lane in sorted(flagged) if not lanes[lane]["problems"]
             and not any(len({x["status"] for x in d["lanes"].values()}) > 1 and lane in d["lanes"]
                         for d in entry.get("differences", []))]
    excused_lanes = flagged - set(stale)
    rest = {lane: v for lane, v in lanes.items() if lane not in excused_lanes}
    bad = any(v["problems"] for v in rest.values()) or bool(differences(rest, engine_bound))
    return bad, [f"{lane}: {known[(lane, entry['id'])]}" for lane in sorted(excused_lanes)], stale


def problems(case: Case, code: Optional[int], result: Optional[dict], error: str = "") -> list[str]:
    """Why ``result`` (the grader's JSON for ``case``, exit status ``code``) is not what the case
    expects; empty when it is."""
    if result is None:
        return [f"no grading result (exit {code}): {error.strip()[-500:]}"]
    checks = result.get("checks", [])
    found: list[str] = []
    if case.kind in ("solution", "alternative"):
        if result["score"] != result["attainable"]:
            missing = [c["id"] for c in checks if c["status"] != "passed" and not c["skipped_here"]]
            found.append(f"score {result['score']} != attainable {result['attainable']} ({', '.join(missing)})")
    if case.kind == "solution":
        if code != 0:
            found.append(f"exit status {code}, expected 0")
        found += [f"{c['id']}: skipped here without a reason" for c in checks
                  if c["skipped_here"] and not c["message"]]
    elif case.kind == "starter":
        if code != 1:
            found.append(f"exit status {code}, expected 1")
        if result["score"] > 0.2 * result["max_score"]:
            found.append(f"score {result['score']} > 20 % of {result['max_score']}")
        found += [f"{c['id']}: failure message lacks Attendu/Observé" for c in checks
                  if c["status"] == "failed" and not ("Attendu" in c["message"] and "Observé" in c["message"])]
    elif case.kind == "mutant":
        not_passed = {c["id"] for c in checks if c["status"] != "passed" and not c["skipped_here"]}
        can_fail = {c["id"] for c in checks if not c["skipped_here"]}
        expected = set(case.fails) & can_fail
        if not_passed != expected:
            extra, missed = sorted(not_passed - expected), sorted(expected - not_passed)
            found.append("not passed " + (f"unexpectedly: {', '.join(extra)}" if extra else "")
                         + ("; " if extra and missed else "") + (f"passed but must fail: {', '.join(missed)}" if missed else ""))
        found += [f"{c['id']}: error: {c['message'][:200]}" for c in checks if c["status"] == "error"]
        found += [f"{c['id']}: failure message lacks Attendu/À faire" for c in checks
                  if c["status"] == "failed" and not ("Attendu" in c["message"] and "À faire" in c["message"])]
    return found


def statuses(result: Optional[dict]) -> dict[str, str]:
    """``check id -> status`` (``skipped_here`` marked: a check one engine cannot judge differs)."""
    if result is None:
        return {}
    return {c["id"]: c["status"] + ("/here" if c["skipped_here"] else "") for c in result.get("checks", [])}


def differences(per_lane: dict[str, dict], engine_bound: bool = False) -> list[dict]:
    """Checks whose status differs between lanes: ``[{"check", "lanes": {lane: {status, message}}}]``.
    ``per_lane`` maps a lane to its entry (``statuses`` and ``messages``). A lane without a result
    differs on every check. For a lab bound to one engine (``engine_bound``: lab 13 needs Podman),
    a check the other engines cannot judge (``…/here``) is compared only between the lanes that judge it."""
    if len(per_lane) < 2:
        return []
    ids = sorted({cid for entry in per_lane.values() for cid in entry.get("statuses", {})})
    out = []
    for cid in ids:
        seen = {lane: entry.get("statuses", {}).get(cid, "absent") for lane, entry in per_lane.items()}
        if engine_bound:
            seen = {lane: status for lane, status in seen.items() if not status.endswith("/here")}
        if len(set(seen.values())) > 1:
            out.append({"check": cid, "lanes": {lane: {"status": status,
                                                        "message": per_lane[lane].get("messages", {}).get(cid, "")}
                                                for lane, status in seen.items()}})
    return out


def table(cases: list[dict], lanes: list[str], lane_info: dict[str, dict]) -> str:
    """A text table lab × lane: cases as expected / total and grading wall time, a column counting
    the cases whose statuses differ between lanes, then each lane's set-up time."""
    labs = sorted({c["lab"] for c in cases})
    head = ["lab"] + [f"{lane} ok/total" for lane in lanes] + [f"{lane} wall" for lane in lanes] + ["differ"]
    rows = []
    totals = {lane: [0, 0, 0.0] for lane in lanes}
    total_diff = 0
    for lab in labs:
        mine = [c for c in cases if c["lab"] == lab]
        row = [lab]
        for lane in lanes:
            ok = sum(1 for c in mine if lane in c["lanes"] and not c["lanes"][lane]["problems"])
            n = sum(1 for c in mine if lane in c["lanes"])
            totals[lane][0] += ok
            totals[lane][1] += n
            row.append(f"{ok}/{n}")
        for lane in lanes:
            wall = sum(c["lanes"][lane]["wall_s"] for c in mine if lane in c["lanes"])
            totals[lane][2] += wall
            row.append(_minutes(wall))
        diff = sum(1 for c in mine if c["differences"])
        total_diff += diff
        row.append(str(diff))
        rows.append(row)
    rows.append(["all"] + [f"{totals[lane][0]}/{totals[lane][1]}" for lane in lanes]
                + [_minutes(totals[lane][2]) for lane in lanes] + [str(total_diff)])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [head] + rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    for lane in lanes:
        info = lane_info.get(lane, {})
        lines.append(f"{lane}: set-up {info.get('setup_s', '?')} s, grading wall {_minutes(info.get('grading_s', 0))}"
                     f" ({info.get('facts', {}).get('engine', '?')}, store {info.get('facts', {}).get('store', '?')})")
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"
