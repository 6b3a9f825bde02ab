# The README's two set-up commands live here so that CI (.ci/run) runs exactly the same thing.
PYTHON ?= python3

.PHONY: quickstart test test-fast

quickstart:  ## install, then run the embedded-default main job (tiny local model, CPU)
	bash scripts/install.sh run
	$(PYTHON) -m sparring.cli train configs/kuhn_poker_tiny.yaml

test:  ## install (with test extras and system packages), then run the test suite
	bash scripts/install.sh test
	bash scripts/run_tests.sh

test-fast:  ## tests without install and without slow tests
	$(PYTHON) -m pytest -q -m "not slow"
