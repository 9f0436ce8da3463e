# Two entry points for users: `make demo` and `make test`. Everything else is for developers.
PY      ?= python3.11
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DEBS    := tshark iproute2 poppler-utils linux-libc-dev dpdk libdpdk-dev pkg-config

.PHONY: demo test bench lint debs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages used by the referee and network tests (tshark's dissectors, ip netns,
# DPDK and what builds its shim).
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "not root: install$$missing yourself for the referee tests (they skip without them)"; fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/tickpath demo

test: $(STAMP) debs
	$(VPY) -m pytest -q

# Every speed benchmark runs its baseline in the same run and prints the ratio (books_memory.py
# states the books' memory over a day); JSON in out/bench/.
bench: $(STAMP) debs
	mkdir -p out/bench
	$(VPY) bench/replay_itch.py
	$(VPY) bench/peers_itch.py
	$(VPY) bench/books_memory.py
	$(VPY) bench/books_partitioned.py
	$(VPY) bench/replay_mdp3.py
	$(VPY) bench/mdp3_books.py
	$(VPY) bench/mdp3_venue.py
	$(VPY) bench/gateway_journal.py
	$(VPY) bench/gateway_recover.py
	$(VPY) bench/publish_recovery.py
	$(VPY) bench/risk_check.py
	$(VPY) bench/fuzz.py --target all --runs 1000000
	$(VENV)/bin/tickpath bench ring --json out/bench/ring.json
	@if [ "$$(id -u)" = 0 ]; then \
	  $(VENV)/bin/tickpath wire bench --json out/bench/wire.json && \
	  $(VENV)/bin/tickpath budget --json out/bench/budget.json --csv out/bench/budget.csv \
	    --png out/bench/budget.png && \
	  $(VENV)/bin/tickpath bench tick-to-trade --json out/bench/tick_to_trade.json && \
	  $(VENV)/bin/tickpath bench recovery --json out/bench/recovery.json --runs 5; \
	else echo "tickpath wire bench, budget, bench tick-to-trade and bench recovery need root (namespaces, AF_PACKET, AF_XDP): skipped"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
