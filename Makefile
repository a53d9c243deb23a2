# Two commands do all the set-up on a fresh machine with Python 3 and make:
#   make run    install into .venv and open the dashboard on the demo company
#   make test   install into .venv and run every check and test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT   ?= 8501

.PHONY: install run test lint typecheck pytest demo bench clean

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: install
	$(BIN)/python -m finance demo
	$(BIN)/python -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy finance

pytest: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/warm_interaction.py

demo: install
	$(BIN)/python -m finance demo --force

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
