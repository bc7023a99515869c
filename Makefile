# The two commands a newcomer needs:
#   make run    install what is missing, build, serve config.yaml on http://127.0.0.1:4000
#   make test   install what is missing, run the whole suite (unit + integration)
# and `make demo` to try the README's request offline against a local Cohere stand-in.

SHELL := /bin/bash
SWIFT_BUILD_FLAGS ?=
INSTANCES ?= 2
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
# The integration suite runs once per upstream transport (general_settings.transport).
TRANSPORTS ?= curl urlsession

.PHONY: run demo test unit integration integration-suites build release deps lint clean install fuzz fuzz-smoke test-sanitize bench bench-sse bench-soak bench-keys bench-redis bench-usage bench-deps package package-deps test-package

deps:
	@scripts/install-deps.sh

release: deps
	swift build -c release $(SWIFT_BUILD_FLAGS)

build: deps
	swift build $(SWIFT_BUILD_FLAGS)

run: release
	scripts/run-stack.sh config.yaml $(INSTANCES)

demo: release
	@COHERE_API_KEY=$${COHERE_API_KEY:-demo-cohere-key} bash -c '\
	  python3 demo/cohere_standin.py 4090 & standin=$$!; \
	  trap "kill $$standin 2>/dev/null" EXIT; \
	  scripts/run-stack.sh demo/config.yaml $(INSTANCES)'

test: build lint
	swift test $(SWIFT_BUILD_FLAGS) 2>&1 | tail -n 40; test $${PIPESTATUS[0]} -eq 0
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory integration-suites

unit: build
	swift test $(SWIFT_BUILD_FLAGS)

integration: build
	$(MAKE) --no-print-directory integration-suites

integration-suites:
	@bin=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/fcgi-pass-through; \
	for transport in $(TRANSPORTS); do \
	  echo "== integration suite, transport: $$transport"; \
	  GATEWAY_TRANSPORT=$$transport GATEWAY_BIN=$$bin python3 -m pytest Tests/IntegrationTests -q -p no:cacheprovider || exit 1; \
	done

# Benchmarks against nginx proxy_pass in the same run (docs/PERFORMANCE.md). They report,
# never fail on timing. Each measures both upstream transports unless
# BENCH_TRANSPORTS=urlsession or =curl says otherwise (bench-keys: curl unless told).
# Other knobs: BENCH_ROUNDS, BENCH_SECONDS, ... (see bench/run.py, bench/sse_many.py,
# bench/soak.py, bench/keys.py, bench/redis_limits.py).
bench-deps:
	@scripts/install-deps.sh wrk openssl stress-ng

bench: bench-deps release
	python3 bench/run.py

bench-sse: bench-deps release
	python3 bench/sse_many.py

bench-soak: bench-deps release
	python3 bench/soak.py

bench-keys: bench-deps release
	python3 bench/keys.py

bench-usage: bench-deps release
	python3 bench/usage.py

bench-redis: bench-deps release
	python3 bench/redis_limits.py

lint:
	swift format lint --recursive --strict Sources Tests Package.swift Fuzz/Sources Fuzz/Package.swift

# libFuzzer targets in Fuzz/ (config loader, request path); see scripts/fuzz.sh.
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: deps
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

# Unit and integration tests against ASan (.build-asan) and TSan (.build-tsan) builds.
test-sanitize: deps
	scripts/test-sanitize.sh

# Installs the release binary, systemd units, config and nginx snippet (DESTDIR, PREFIX: see deploy/README.md).
install: release
	deploy/install.sh

# The Debian package (docs/INSTALL.md): the release binary with Swift's standard library
# and Foundation linked in (built in .build-package), dist/fcgi-pass-through_<version>_<arch>.deb.
# Rebuilt when a source, deploy, nginx or doc file changed; dist/package.path names the .deb.
PACKAGE_INPUTS := Package.swift $(wildcard $(shell git ls-files Sources deploy nginx docs README.md 2>/dev/null || find Sources deploy nginx docs README.md -type f))

package-deps:
	@scripts/install-deps.sh dpkg-dev binutils groff-base

dist/package.path: $(PACKAGE_INPUTS) | package-deps
	@mkdir -p dist
	deploy/package/build-deb.sh --out dist > $@.new && mv $@.new $@

package: dist/package.path
	@deb=$$(cat $<); [ -f "$$deb" ] || { rm -f $<; $(MAKE) --no-print-directory $<; }; cat $<

# The package's tests (Tests/IntegrationTests/deploy/test_package_*.py): its contents, dpkg
# into an empty root, and install, upgrade, removal and purge under a booted systemd.
test-package: package
	PACKAGE_DEB=$$(cat dist/package.path) python3 -m pytest Tests/IntegrationTests/deploy/test_package_deb.py \
	  Tests/IntegrationTests/deploy/test_package_systemd.py -q -p no:cacheprovider

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan .build-package .run dist
