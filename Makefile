# Two commands do all the set-up on a fresh machine with Python 3 and make:
#   make run    install into .venv and open the dashboard on the demo company
#   make test   install into .venv and run every check and test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT   ?= 8501
# localhost unless sign-in is configured (.streamlit/secrets.toml): make run ADDRESS=0.0.0.0
ADDRESS ?= localhost

.PHONY: install system-packages run test lint typecheck pytest demo bench clean

install: system-packages $(STAMP)

# Debian packages: chromium prints the board-pack PDF and runs the browser test; poppler-utils
# (pdftotext, pdfinfo, pdftoppm) lets the tests read the PDF back; fonts-noto-cjk draws the Japanese
# dashboard and pack (Noto Sans CJK JP: without it Japanese prints as empty boxes); a Java runtime
# runs Apache Spark in local mode for a ledger in a data lake (finance/store/spark.py). Installed only
# when missing and we are root with apt-get; otherwise a note. Never a reason for install to fail.
SYSTEM_TOOLS := chromium pdftotext pdfinfo pdftoppm java
SYSTEM_PACKAGES := chromium poppler-utils fonts-noto-cjk default-jre-headless
JAPANESE_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
system-packages:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ ! -f $(JAPANESE_FONT) ] && ! fc-list :lang=ja 2>/dev/null | grep -q .; then missing="$$missing fonts-noto-cjk"; fi; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(SYSTEM_PACKAGES) (missing:$$missing)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; } \
			|| echo "note: apt-get could not install $(SYSTEM_PACKAGES); the PDF export, Spark and their tests need them"; \
	else \
		echo "note:$$missing not found; the PDF export, Spark and their tests need them: apt-get install $(SYSTEM_PACKAGES)"; \
	fi

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: install
	$(BIN)/python -m finance demo
	$(BIN)/python -m streamlit run finance/app/server.py --server.port $(PORT) --server.address $(ADDRESS) \
		--browser.gatherUsageStats false

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy finance

# Two workers (pytest-xdist, one test file each at a time), then the load-sensitive tests alone.
pytest: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -m serial

bench: install
	$(BIN)/python -m bench.harness

demo: install
	$(BIN)/python -m finance demo --force

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
