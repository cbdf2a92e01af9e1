# Thin wrappers around scripts/, which bootstrap from bare python3 + pip.
.PHONY: demo test ui bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

ui:
	bash scripts/ui.sh

bench:
	bash scripts/bootstrap.sh
	.venv/bin/python benchmarks/archive_fetch.py
	.venv/bin/python benchmarks/ingest.py
