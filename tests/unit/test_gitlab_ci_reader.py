"""The GitLab CI reader (autograder/readers/gitlab_ci.py): resolution, variables, rules, docker commands.

No Docker. The last test cross-checks which jobs run on `main` and on a feature branch against
gitlab-ci-local 4.73.0 (`--list-json`) where it is installed; gitlab-ci-local ignores
`only`/`except`, so only files that use `rules` are compared.
"""

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from autograder.core import Fail
from autograder.readers import gitlab_ci as gl

ROOT = Path(__file__).resolve().parents[2]
MAIN, FEATURE = "main", "feature/nouvelle-stat"
PROJECT = "ecole/tp10"
SHA = "3f9c2a7be41d05c8a6e2f1b9d07c4e5a8b6f1d20"
REF = f"registry.gitlab.example.com/{PROJECT}:{SHA[:8]}"


def env_of(branch: str = MAIN) -> dict[str, str]:
    return gl.predefined_variables(branch, default_branch=MAIN, project_path=PROJECT, sha=SHA, title="t")


def config(text: str) -> dict:
    return gl.parse_yaml(textwrap.dedent(text), ".gitlab-ci.yml")


def jobs_of(text: str) -> dict[str, dict]:
    return gl.resolve(config(text))[1]


def running(text: str, branch: str, **extra: str) -> dict[str, str]:
    """{job: when} of the jobs a push on ``branch`` starts."""
    settings, jobs = gl.resolve(config(text))
    return {n: when for n, (_, _, when) in gl.running_jobs(settings, jobs, {**env_of(branch), **extra}).items()}


def truth(expression: str, **env: str) -> bool:
    return gl.Expression(expression).evaluate(env)


# -- predefined variables ---------------------------------------------------------------------------
def test_predefined_variables_of_a_feature_branch():
    env = env_of("Feature/Nouvelle_Stat")
    assert env["CI_COMMIT_REF_SLUG"] == "feature-nouvelle-stat"
    assert env["CI_COMMIT_BRANCH"] == "Feature/Nouvelle_Stat" and env["CI_DEFAULT_BRANCH"] == MAIN
    assert env["CI_REGISTRY_IMAGE"] == f"registry.gitlab.example.com/{PROJECT}"
    assert (env["CI_PROJECT_NAME"], env["CI_PROJECT_NAMESPACE"]) == ("tp10", "ecole")
    assert env["CI_PROJECT_DIR"] == f"/builds/{PROJECT}" and env["CI_COMMIT_SHORT_SHA"] == SHA[:8]


# -- YAML: anchors, !reference, extends ------------------------------------------------------------
def test_anchors_and_merge_keys():
    jobs = jobs_of("""
        .base: &base
          image: python:3.13-slim
          variables: {A: "1"}
        .login: &login
          - echo login
        t:
          <<: *base
          before_script: *login
          script: [pytest]
    """)
    assert jobs["t"]["image"] == "python:3.13-slim" and jobs["t"]["before_script"] == ["echo login"]
    assert set(jobs) == {"t"}  # hidden jobs (leading dot) are templates, not jobs


def test_reference_is_flattened_into_scripts_and_reads_extended_keys():
    jobs = jobs_of("""
        .setup:
          script: [echo one, echo two]
        .child:
          extends: .setup
        j:
          script:
            - !reference [.child, script]
            - echo three
          variables:
            V: !reference [variables, G]
        variables: {G: global}
    """)
    assert jobs["j"]["script"] == ["echo one", "echo two", "echo three"]
    assert jobs["j"]["variables"] == {"V": "global"}


def test_reference_to_a_missing_key_fails_in_french():
    with pytest.raises(Fail) as err:
        jobs_of("j:\n  script: [!reference [.nope, script]]\n")
    assert "!reference" in err.value.expected and "introuvable" in err.value.observed


def test_extends_chain_deep_merges_hashes_and_replaces_lists():
    jobs = jobs_of("""
        .a:
          image: docker:28.5.1
          variables: {X: a, Y: a}
          script: [from-a]
        .b:
          extends: .a
          variables: {Y: b}
        j:
          extends: .b
          variables: {Z: j}
          script: [from-j]
    """)
    assert jobs["j"]["variables"] == {"X": "a", "Y": "b", "Z": "j"}
    assert jobs["j"]["script"] == ["from-j"] and jobs["j"]["image"] == "docker:28.5.1"
    assert "extends" not in jobs["j"]


def test_extends_list_later_parent_wins():
    jobs = jobs_of("""
        .one: {image: one, stage: build}
        .two: {image: two}
        j: {extends: [.one, .two], script: [x]}
    """)
    assert jobs["j"]["image"] == "two" and jobs["j"]["stage"] == "build"


@pytest.mark.parametrize("text, observed", [
    ("a: {extends: b, script: [x]}\nb: {extends: a}\n", "a → b → a"),
    ("a: {extends: a, script: [x]}\n", "a → a"),
])
def test_extends_loop_is_refused(text, observed):
    with pytest.raises(Fail) as err:
        jobs_of(text)
    assert err.value.observed == observed and "boucle" in err.value.expected


def test_extends_of_an_unknown_template_is_refused():
    with pytest.raises(Fail) as err:
        jobs_of("j: {extends: .docker, script: [x]}\n")
    assert "`.docker` introuvable" == err.value.observed


def test_default_and_inherit():
    jobs = jobs_of("""
        image: legacy:1
        default:
          before_script: [echo default]
          tags: [docker]
        plain: {script: [x]}
        none: {script: [x], inherit: {default: false}}
        some: {script: [x], inherit: {default: [tags]}}
        own: {script: [x], image: own:2}
    """)
    assert jobs["plain"]["image"] == "legacy:1" and jobs["plain"]["before_script"] == ["echo default"]
    assert "image" not in jobs["none"] and "before_script" not in jobs["none"]
    assert jobs["some"]["tags"] == ["docker"] and "before_script" not in jobs["some"]
    assert jobs["own"]["image"] == "own:2"


def test_reserved_keys_are_not_jobs():
    jobs = jobs_of("stages: [build]\nvariables: {A: b}\nworkflow: {rules: [{when: always}]}\nj: {script: [x]}\n")
    assert list(jobs) == ["j"]


# -- files: YAML errors, includes --------------------------------------------------------------------
@pytest.mark.parametrize("text, word", [("a: [\n", "YAML valide"), ("- a\n- b\n", "dictionnaire")])
def test_bad_yaml_fails_in_french(text, word):
    with pytest.raises(Fail) as err:
        gl.parse_yaml(text, ".gitlab-ci.yml")
    assert word in err.value.expected


def test_local_include_is_merged_under_the_main_file(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "base.yml").write_text("variables: {A: included, B: included}\n.t: {image: x}\n")
    (tmp_path / ".gitlab-ci.yml").write_text("include:\n  - local: /ci/base.yml\nvariables: {B: main}\n"
                                             "j: {extends: .t, script: [x]}\n")
    ci = gl.load(tmp_path, ".gitlab-ci.yml")
    assert ci["variables"] == {"A": "included", "B": "main"}
    assert gl.resolve(ci)[1]["j"]["image"] == "x"


@pytest.mark.parametrize("include, word", [
    ("https://example.org/ci.yml", "locaux"),
    ({"project": "g/p", "file": "ci.yml"}, "locaux"),
    ("../outside.yml", "introuvable"),
    ("absent.yml", "introuvable"),
])
def test_includes_the_grader_cannot_read_are_refused(tmp_path, include, word):
    (tmp_path / "outside.yml").write_text("a: {script: [x]}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitlab-ci.yml").write_text(json.dumps({"include": include, "j": {"script": ["x"]}}))
    with pytest.raises(Fail) as err:
        gl.load(repo, ".gitlab-ci.yml")
    assert word in err.value.expected + err.value.observed


def test_missing_file(tmp_path):
    with pytest.raises(Fail) as err:
        gl.load(tmp_path, ".gitlab-ci.yml")
    assert err.value.observed == ".gitlab-ci.yml introuvable"


# -- variables -------------------------------------------------------------------------------------
def test_expand():
    env = {"A": "x", "B": "y"}
    assert gl.expand("$A-${B}-$UNKNOWN-$$A", env) == "x-y--$A"


def test_variables_precedence_and_inherit():
    settings, jobs = gl.resolve(config("""
        variables:
          CI_COMMIT_BRANCH: overridden
          TAG: "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA"
          MODE: global
          FLAG: true
          DESCRIBED: {value: "v", description: "d"}
        j: {script: [x], variables: {MODE: job, OWN: "${MODE}-$TAG"}}
        none: {script: [x], inherit: {variables: false}}
        some: {script: [x], inherit: {variables: [MODE]}}
    """))
    env = gl.job_env(settings, jobs["j"], env_of())
    assert env["CI_COMMIT_BRANCH"] == "overridden"  # a global variable wins over a predefined one
    assert env["TAG"] == REF and env["MODE"] == "job" and env["OWN"] == f"job-{REF}"
    assert env["FLAG"] == "true" and env["DESCRIBED"] == "v"
    assert "MODE" not in gl.job_env(settings, jobs["none"], env_of())
    some = gl.job_env(settings, jobs["some"], env_of())
    assert some["MODE"] == "global" and "TAG" not in some


# -- the expression language --------------------------------------------------------------------------
@pytest.mark.parametrize("expression, expected", [
    ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", True),
    ('$CI_COMMIT_BRANCH == "main"', True),
    ("$CI_COMMIT_BRANCH != 'main'", False),
    ("$CI_COMMIT_BRANCH =~ /^ma/", True),
    ("$CI_COMMIT_BRANCH =~ /^MA/", False),
    ("$CI_COMMIT_BRANCH =~ /^MA/i", True),
    ("$CI_COMMIT_BRANCH !~ /^feature\\//", True),
    ("$CI_COMMIT_TAG", False),
    ("$CI_COMMIT_BRANCH", True),
    ("$EMPTY", False),
    ("$CI_COMMIT_TAG == null", True),
    ("$EMPTY == null", False),
    ("${CI_COMMIT_BRANCH} == 'main'", True),
    ("$CI_COMMIT_TAG || $CI_COMMIT_BRANCH == 'main'", True),
    ("$CI_COMMIT_TAG && $CI_COMMIT_BRANCH == 'main'", False),
    ("$CI_COMMIT_BRANCH == 'x' || $CI_COMMIT_BRANCH == 'main' && $CI_COMMIT_TAG", False),  # && binds first
    ("($CI_COMMIT_BRANCH == 'x' || $CI_COMMIT_BRANCH == 'main') && $CI_PIPELINE_SOURCE == 'push'", True),
    ("($CI_COMMIT_BRANCH == 'x' || $CI_COMMIT_BRANCH == 'main') && $CI_COMMIT_TAG", False),
    ("$CI_PIPELINE_SOURCE == \"merge_request_event\"", False),
])
def test_expressions(expression, expected):
    env = {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "EMPTY": ""}
    assert gl.Expression(expression).evaluate(env) is expected


@pytest.mark.parametrize("expression", ["$A ==", "$A == 'x' &&", "($A == 'x'", "$A =~ 'main'", "A == B",
                                        "$A == 'x')"])
def test_bad_expressions_fail_in_french(expression):
    with pytest.raises(Fail) as err:
        gl.condition(expression, {"A": "x"}, "j: rules:if")
    assert err.value.expected == "j: rules:if : une expression que GitLab comprend"
    assert expression in err.value.observed


# -- rules, only/except, workflow ---------------------------------------------------------------------
RULES = """
    deploy:
      script: [x]
      rules:
        - if: $CI_COMMIT_TAG
        - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
          when: manual
        - if: $CI_COMMIT_BRANCH =~ /^feature\\//
          when: never
        - when: on_success
    docs:
      script: [x]
      rules:
        - changes: [docs/**/*]
    never:
      script: [x]
      rules:
        - if: $CI_COMMIT_BRANCH == "release"
    delayed:
      script: [x]
      when: delayed
      rules:
        - if: $CI_COMMIT_BRANCH
"""


def test_rules_first_match_wins():
    assert running(RULES, MAIN) == {"deploy": "manual", "docs": "on_success", "delayed": "delayed"}
    assert running(RULES, FEATURE) == {"docs": "on_success", "delayed": "delayed"}
    assert running(RULES, "fix/x") == {"deploy": "on_success", "docs": "on_success", "delayed": "delayed"}
    assert running(RULES, MAIN, CI_COMMIT_TAG="v1")["deploy"] == "on_success"


ONLY = """
    main-only: {script: [x], only: [main]}
    regex: {script: [x], only: ["/^feature\\\\/.*$/"]}
    not-main: {script: [x], except: [main]}
    vars: {script: [x], only: {refs: [branches], variables: ['$CI_COMMIT_BRANCH == "main"']}}
    except-vars: {script: [x], except: {variables: ["$CI_COMMIT_BRANCH =~ /^feature/"]}}
    plain: {script: [x]}
    manual: {script: [x], when: manual, only: [branches]}
"""


def test_only_and_except():
    assert set(running(ONLY, MAIN)) == {"main-only", "vars", "except-vars", "plain", "manual"}
    assert set(running(ONLY, FEATURE)) == {"regex", "not-main", "plain", "manual"}
    assert running(ONLY, MAIN)["manual"] == "manual"


def test_workflow_rules_decide_whether_the_pipeline_exists():
    text = "workflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH == 'main'\nj: {script: [x]}\n"
    assert running(text, MAIN) == {"j": "on_success"} and running(text, FEATURE) == {}
    never = "workflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH\n      when: never\n    - when: always\nj: {script: [x]}\n"
    assert running(never, MAIN) == {}


# -- docker commands in scripts ---------------------------------------------------------------------------
def test_commands_split_and_expand():
    lines = ['echo "$PASS" | docker login -u u --password-stdin "$REG" && docker build \\\n -t "$REG/a" .',
             "docker push $REG/a; echo done"]
    assert gl.commands(lines, {"PASS": "p w", "REG": "r.example"}) == [
        ["echo", "p w"], ["docker", "login", "-u", "u", "--password-stdin", "r.example"],
        ["docker", "build", "-t", "r.example/a", "."], ["docker", "push", "r.example/a"], ["echo", "done"]]


def test_docker_refs_built_tagged_pushed():
    made, pushed, others = gl.docker_refs(gl.commands([
        "docker build -t App:1 --tag=other .",
        "docker tag app:1 reg/app",
        "docker buildx build --push -t reg/b:2 .",
        "docker buildx build -t reg/c:3 --output type=registry .",
        "docker buildx imagetools create --tag reg/d:latest reg/b:2",
        "docker push reg/app:latest",
        "docker image push --all-tags reg/b",
        "crane copy reg/b:2 reg/b:latest",
    ], {}))
    assert made == {"app:1", "other:latest", "reg/app:latest", "reg/b:2", "reg/c:3", "reg/d:latest"}
    assert pushed == {"reg/b:2", "reg/c:3", "reg/d:latest", "reg/app:latest"}
    assert others == ["crane copy reg/b:2 reg/b:latest"]


def test_latest_in_and_ref_parts():
    job = {"before_script": ["docker login -u u --password-stdin r"],
           "script": ["docker tag $IMG $CI_REGISTRY_IMAGE", "skopeo copy a b:latest"]}
    found = gl.latest_in(job, {"IMG": "r/p:1", "CI_REGISTRY_IMAGE": "r/p"})
    assert found == ["r/p:latest", "skopeo copy a b:latest"]
    assert gl.docker_ref_parts("registry:5000/docker:28.5.1-dind@sha256:ab") == ("docker", "28.5.1-dind")
    assert gl.with_tag("Reg:5000/App") == "reg:5000/app:latest"


def test_job_accessors():
    job = {"image": {"name": "$IMG", "entrypoint": [""]}, "needs": [{"job": "b"}, "c"],
           "script": ["a", ["b", ""], "  "]}
    assert gl.image_name(job) == "$IMG" and gl.stage_of(job) == "test"
    assert gl.needs_of(job) == ["b", "c"] and gl.needs_of({}) is None
    assert gl.script_lines(job) == ["a", "b"] and gl.lines_of(job["script"]) == ["a", "b", "", "  "]


# -- cross-check with gitlab-ci-local ---------------------------------------------------------------------
GCL = os.environ.get("GITLAB_CI_LOCAL") or shutil.which("gitlab-ci-local")
RULE_FILES = ["solutions/10-ci-cd/.gitlab-ci.yml", "tests/alternatives/10-ci-cd/extends-workflow-buildx/.gitlab-ci.yml"]


def _gcl_running(repo: Path, branch: str) -> set[str]:
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run([*git, "checkout", "-q", "-B", branch], cwd=repo, check=True, capture_output=True, timeout=60)
    proc = subprocess.run([GCL, "--list-json", "--home", str(repo / ".gcl-home")], cwd=repo, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {job["name"] for job in json.loads(proc.stdout) if job["when"] != "never"}


@pytest.mark.parametrize("rel", RULE_FILES)
def test_running_jobs_agree_with_gitlab_ci_local(tmp_path, rel):
    if not GCL:
        if os.environ.get("COURSE_REQUIRE_GITLAB_CI_LOCAL") == "1":
            pytest.fail("gitlab-ci-local absent (npm install -g gitlab-ci-local@4.73.0)")
        pytest.skip("gitlab-ci-local absent (npm install -g gitlab-ci-local@4.73.0)")
    repo = tmp_path / "depot"
    repo.mkdir()
    shutil.copy(ROOT / rel, repo / ".gitlab-ci.yml")
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    for args in (["init", "-q"], ["checkout", "-q", "-b", MAIN], ["add", ".gitlab-ci.yml"], ["commit", "-qm", "ci"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=60)
    settings, jobs = gl.resolve(gl.load(repo, ".gitlab-ci.yml"))
    for branch in (MAIN, FEATURE):
        ours = set(gl.running_jobs(settings, jobs, env_of(branch)))
        assert ours == _gcl_running(repo, branch), branch
    assert set(gl.running_jobs(settings, jobs, env_of(MAIN))) != set(gl.running_jobs(settings, jobs, env_of(FEATURE)))
