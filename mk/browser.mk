# Browser test of `make lab` (tests/browser/): JupyterLab served by the real target, a chapter
# notebook's first cell run in headless Chromium. Needs Debian's chromium and chromium-driver
# (skipped without them, unless COURSE_REQUIRE_BROWSER=1 as in CI). Screenshots and logs: build/browser/.

.PHONY: test-browser

test-browser: $(STAMP) ## Open a chapter notebook in `make lab` with headless Chromium and run its first cell
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)
