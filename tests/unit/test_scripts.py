"""What the grader puts into a student's script container (autograder.probes.scripts), without Docker."""

from __future__ import annotations

import io
import json
import os
import tarfile

from autograder.probes.scripts import IN_CONFIG, IN_SUBMISSION, _io_archive, interpreter


def test_the_exchange_archive_holds_the_submission_the_cli_config_inputs_and_output_folders(tmp_path):
    sub = tmp_path / "tp"
    (sub / "initdb").mkdir(parents=True)
    (sub / "backup.sh").write_text("#!/bin/sh\n")
    (sub / "initdb" / "01.sql").write_text("select 1;\n")
    buf = io.BytesIO()
    config = {"HttpHeaders": {"X-Autograder-Token": "secret"}}
    _io_archive(buf, sub, config, {"compose/compose.json": b"{}"}, {"sauvegardes"})
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar}
        sub_name, conf_name = os.path.basename(IN_SUBMISSION), os.path.basename(IN_CONFIG)
        assert {f"{sub_name}/backup.sh", f"{sub_name}/initdb/01.sql", "compose/compose.json"} <= set(members)
        conf = members[f"{conf_name}/config.json"]
        assert json.loads(tar.extractfile(conf).read()) == config and conf.mode == 0o600
        assert members[conf_name].isdir() and members[conf_name].mode == 0o700
        # the script runs as the grading user: it writes its dump into a folder open to it
        assert members["sauvegardes"].isdir() and members["sauvegardes"].mode == 0o777
        assert all(m.uid == os.getuid() and m.gid == os.getgid() for m in members.values())


def test_interpreter_follows_the_shebang(tmp_path):
    script = tmp_path / "s.sh"
    for first, expected in (("#!/usr/bin/env bash", ["bash"]), ("#!/bin/sh -eu", ["sh", "-eu"]),
                            ("#!/usr/bin/python3", ["bash"]), ("echo sans shebang", ["bash"])):
        script.write_text(first + "\necho\n")
        assert interpreter(script) == expected, first
