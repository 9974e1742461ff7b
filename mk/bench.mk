# Grading benchmark and grading several labs in one command. Included by the Makefile.
# The benchmark's logic is in autograder/tools/bench.py; results go to build/bench/bench.json.

# Labs to benchmark or grade (numbers, e.g. LABS="01 02"); empty: every lab.
LABS ?=
# Copies of one submission graded with each job count of BENCH_JOBS (throughput), and that submission's lab.
BENCH_N ?= 4
BENCH_LAB ?= 01
BENCH_JOBS ?= 1 2 3

.PHONY: bench check-all

bench: images ## Benchmark: grading vs Docker floor per lab, throughput with 1/2/3 jobs, class-size table (LABS=, BENCH_N=, BENCH_LAB=, BENCH_JOBS=)
	$(PY) -m autograder.tools.bench $(if $(strip $(LABS)),--labs $(LABS)) --n $(BENCH_N) --lab $(BENCH_LAB) --jobs $(BENCH_JOBS)

# Exit status as make check's (see the Makefile): 0 once every lab is graded, whatever the scores;
# 2 when one cannot be graded (doctor's blocking checks, unknown lab, Docker lost, interrupted);
# STRICT=1 turns failed checks into 2 as well.
check-all: $(STAMP) ## Grade every lab folder of labs/ (LABS="01 02" for some) with [k/N] progress (exit as make check; STRICT=1)
	@dirs=""; for n in $(if $(strip $(LABS)),$(LABS),$$(ls -d labs/[0-9][0-9]-*/ | sed 's|labs/\([0-9]*\)-.*|\1|')); do \
	  d=$$(ls -d labs/$$(printf '%02d' $$((10#$$n)))-*/ 2>/dev/null | head -1); \
	  test -n "$$d" || { echo "TP $$n introuvable dans labs/ / lab $$n not found"; exit 2; }; dirs="$$dirs $${d%/}"; done; \
	  $(PY) -m autograder doctor --for check $$(for d in $$dirs; do printf -- '--path %s ' "$$d"; done) || exit 2; \
	  $(PY) -m autograder check $$dirs; rc=$$?; \
	  if [ $$rc -eq 1 ]; then \
	    echo "TP corrigés : des vérifications restent à reprendre (détails ci-dessus) ; corrigez-les, puis relancez make check LAB=NN pour le TP concerné."; \
	    $(if $(filter 1,$(STRICT)),echo "STRICT=1 : code de sortie 2 (vérifications ratées)." >&2; exit 2;) \
	  elif [ $$rc -ne 0 ]; then exit 2; fi
