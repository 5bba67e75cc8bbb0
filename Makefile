# ngx_signal_module: top-level entry point.
#
#   make            build build/ngx_signal_module.so against Debian's nginx
#   make run        install what is missing, build, start nginx on :8080
#   make test       install what is missing, build, run every test
#                   (and tools/check-layout.sh)
#   make test-asan  the same suite against an ASan/UBSan build
#   make bench      this module against nchan and Socket.IO, tables in
#                   docs/benchmarks.md
#
# See DEVELOPERS.md for the recipe behind these targets.

NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
BUILD       ?= build
ASAN_BUILD  ?= build-asan
CC_OPT      ?= -g -O2
ASAN_CC_OPT  = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
ASAN_LD_OPT  = -fsanitize=address,undefined
PROVE_JOBS  ?= 2

MODULE_SRCS := config ngx_signal_module.c $(wildcard src/*.c src/*.h)

.PHONY: all deps deps-run deps-test deps-bench run stop test test-unit \
        test-e2e test-asan asan bench bench-tools check-layout clean

all: $(BUILD)/ngx_signal_module.so

# A new inode (mv) keeps a running nginx that mapped the old .so intact.
# configure runs again only when `config` (the list of sources) changes;
# nginx's own objs/Makefile then recompiles only what changed.
$(BUILD)/nginx/objs/Makefile: config
	tools/configure-nginx.sh $(NGINX_SRC) $(BUILD)/nginx "$(CC_OPT)" ""

$(BUILD)/ngx_signal_module.so: $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_signal_module.so $@.tmp && mv -f $@.tmp $@

$(ASAN_BUILD)/nginx/objs/Makefile: config
	tools/configure-nginx.sh $(NGINX_SRC) $(ASAN_BUILD)/nginx \
	    "$(ASAN_CC_OPT)" "$(ASAN_LD_OPT)"

$(ASAN_BUILD)/ngx_signal_module.so: $(ASAN_BUILD)/nginx/objs/Makefile \
                                    $(MODULE_SRCS)
	$(MAKE) -C $(ASAN_BUILD)/nginx -f objs/Makefile modules
	cp $(ASAN_BUILD)/nginx/objs/ngx_signal_module.so $@.tmp && mv -f $@.tmp $@

asan: $(ASAN_BUILD)/ngx_signal_module.so

deps:
	tools/install-deps.sh build

deps-run:
	tools/install-deps.sh run

deps-test:
	tools/install-deps.sh test

deps-bench:
	tools/install-deps.sh bench

run: deps-run all
	tools/run.sh

stop:
	tools/run.sh stop

test: deps-test check-layout all bench-tools test-unit test-e2e

# include graph without cycles, files and functions of a readable size
check-layout:
	tools/check-layout.sh

# the benchmark instrument is tested by t/090-bench-tools.t
bench-tools: $(BUILD)/loadgen $(BUILD)/floor

# unit objects are rebuilt each run: plain and sanitized runs share them
test-unit: all
	$(MAKE) -C t/unit clean
	$(MAKE) -C t/unit NGX_BUILD=$(CURDIR)/$(BUILD)/nginx

test-e2e: all bench-tools
	cd t && TEST_NGINX_BINARY=$(NGINX_BIN) \
	    TEST_SIGNAL_MODULE=$(CURDIR)/$(BUILD)/ngx_signal_module.so \
	    prove -j$(PROVE_JOBS) -r .

test-asan: deps-test all asan bench-tools
	$(MAKE) -C t/unit clean
	$(MAKE) -C t/unit NGX_BUILD=$(CURDIR)/$(BUILD)/nginx SANITIZE=1
	cd t && TEST_NGINX_BINARY=$(NGINX_BIN) \
	    TEST_SIGNAL_MODULE=$(CURDIR)/$(ASAN_BUILD)/ngx_signal_module.so \
	    TEST_SIGNAL_SANITIZE=1 prove -j$(PROVE_JOBS) -r .

# never part of make test: minutes of load on every core
LOADGEN_SRCS := bench/loadgen.c bench/loadgen_ws.c bench/loadgen_sse.c \
                bench/loadgen_pub.c

$(BUILD)/loadgen: $(LOADGEN_SRCS) bench/loadgen.h
	mkdir -p $(BUILD)
	$(CC) -O2 -Wall -Wextra -Werror -pthread -o $@ $(LOADGEN_SRCS)

$(BUILD)/floor: bench/floor.c
	mkdir -p $(BUILD)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ bench/floor.c -lcrypto

bench: deps-bench all $(BUILD)/loadgen $(BUILD)/floor
	perl bench/run.pl --runs $(or $(RUNS),3)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
	$(MAKE) -C t/unit clean
