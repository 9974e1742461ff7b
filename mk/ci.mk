# Grading on CI runners (GitLab CI, GitHub Classroom). Included by the Makefile; the logic is in
# autograder/classroom/ci.py, the job templates in ci/.

ARTIFACTS ?=

.PHONY: collect-ci

collect-ci: $(STAMP) ## Instructors: make collect-ci ARTIFACTS=dir (<student>/…/autograder.json + rendu/ from the CI runners → submitted/ and the reports make grade reads)
	@test -n "$(ARTIFACTS)" || { echo "Usage : make collect-ci ARTIFACTS=dossier (un dossier par étudiant, artefacts rapport-correcteur/ dézippés)"; exit 2; }
	$(PY) -m autograder.classroom.ci collect "$(ARTIFACTS)"
