# ngx_http_yoti_idv_module
#
#   make            build the dynamic module against Debian's nginx-dev tree
#   make test       install what is missing, build, unit tests, then prove -r t
#   make test-valgrind
#                   the t/ suite with nginx under valgrind memcheck (t/compat
#                   runner): fails on any memory error or definite leak
#   make test-nginx-versions
#                   nginx built from Debian's source packages of bookworm
#                   (1.22.1) and trixie (1.26.3), the module against each,
#                   the t/ suite against each binary (TESTS=... as for
#                   test-asan); what failed is repeated at the end
#   make test-asan  nginx 1.22.1 (Debian's source package) and the module
#                   built with -fsanitize=address,undefined, the t/ suite
#                   (t/compat runner): fails on any sanitizer report
#                   (TESTS="t/005-redis.t ..." runs only those files)
#   make deb        the Debian package libnginx-mod-http-yoti-idv, in
#                   build/deb (dpkg-buildpackage out of a copy of the tree,
#                   then lintian)
#   make install    the module and its load_module line, into DESTDIR=
#                   (MODULES_DIR, MODULES_AVAILABLE, MODULES_ENABLED)
#   make test-package
#                   the .deb installed with apt-get, nginx -t, the
#                   autopkgtests and the t/ suite against the installed
#                   module, apt-get purge leaving nothing behind
#   make demo       nginx + the module + a mock IDV API on loopback
#                   (KEEP=1 keeps its configuration)
#   make bench      what the gate costs: one table, bench/results/latest.md
#   make bench-zone the zone at many users only, bench/results/zone-users.md
#                   (BENCH_OPTS=--large: a million users)
#   make bench-redis-restart
#                   Redis killed and restarted under load,
#                   bench/results/redis-restart.md
#                   (BENCH_OPTS="--wait-quiet 120" ... passes options to
#                   both; bench/README.md)
#
# NGINX_SRC=/path/to/nginx-x.y.z builds against another nginx source tree
# (configure it the way the nginx that will load the module was configured:
# NGINX_CONF_FLAGS="..."; a dynamic module needs --with-compat or the same
# flags; the default is the tree's conf_flags, else --with-compat);
# `make test NGINX_SRC=... NGINX_BIN=...` runs the suite against that nginx.

SHELL        := /bin/bash

NGINX_SRC    ?= /usr/share/nginx/src
NGINX_BIN    ?= /usr/sbin/nginx
BUILD        ?= $(CURDIR)/build
MODULE_SO    := $(BUILD)/ngx_http_yoti_idv_module.so
NGINX_TREE   := $(BUILD)/nginx

# what the tree is configured with: NGINX_CONF_FLAGS (default: the
# tree's conf_flags, as Debian's nginx-dev has, else --with-compat),
# NGINX_CC_OPT, NGINX_LD_OPT
NGINX_CONF_FLAGS ?=
NGINX_CC_OPT ?= -g -O2 -fPIC
NGINX_LD_OPT ?=

WARN_CFLAGS  := -Wall -Wextra -Werror -Wno-unused-parameter

SOURCES      := config $(wildcard ngx_http_yoti_idv_module/*.c \
                                  ngx_http_yoti_idv_module/*.h)

# Debian packages `make test` and `make demo` need
DEB_BUILD    := build-essential nginx nginx-dev libssl-dev libcjson-dev \
                libhiredis-dev
DEB_TEST     := perl libtest-base-perl libtext-diff-perl \
                liblist-moreutils-perl libtest-longstring-perl libwww-perl \
                liburi-perl libipc-run-perl libhttp-message-perl \
                python3 python3-cryptography openssl curl redis-server \
                redis-sentinel redis-tools prometheus

# and the ones `make bench` needs (taskset is in util-linux, essential)
DEB_BENCH    := python3 python3-cryptography redis-server redis-sentinel \
                redis-tools wrk valgrind
DEB_VALGRIND := valgrind

# and the ones `make deb` needs (debian/control's Build-Depends)
DEB_PACKAGE  := build-essential debhelper dpkg-dev fakeroot lintian \
                nginx nginx-dev libssl-dev libcjson-dev libhiredis-dev
# and `make test-package` (the autopkgtests' Depends)
DEB_PKGTEST  := autopkgtest curl openssl python3 python3-cryptography psmisc

.PHONY: all module nginx deps deps-test deps-valgrind deps-bench unit test \
        test-valgrind demo bench bench-zone bench-redis-restart clean deps-deb deb \
        install test-package

all: module

module: $(MODULE_SO)

deps:
	@./util/install-deps.sh $(DEB_BUILD)

deps-test:
	@./util/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

deps-bench:
	@./util/install-deps.sh $(DEB_BUILD) $(DEB_BENCH)

deps-valgrind:
	@./util/install-deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_VALGRIND)

# The tree is configured again only when `config` or what configure is
# given changes (build/configure.args records it): objs/Makefile, which
# configure writes, is the stamp, and nginx's own objs/Makefile knows which
# objects a change touches.  The .so is replaced by rename(2), never
# rewritten in place: an nginx that has it mapped keeps its copy.

$(BUILD)/configure.args: FORCE
	$(shell mkdir -p $(BUILD))$(file >$@.new,$(NGINX_SRC) $(NGINX_CONF_FLAGS) $(NGINX_CC_OPT) $(NGINX_LD_OPT))
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(NGINX_TREE)/objs/Makefile: config $(BUILD)/configure.args
	rm -rf $(NGINX_TREE)
	cp -a $(NGINX_SRC)/. $(NGINX_TREE)
	cd $(NGINX_TREE) && \
	    $(if $(strip $(NGINX_CONF_FLAGS)), \
	        NGX_CONF_FLAGS=($(NGINX_CONF_FLAGS)), \
	        if [ -f conf_flags ]; then . ./conf_flags; \
	        else NGX_CONF_FLAGS=(--with-compat); fi) && \
	    if [ -x configure ]; then conf=./configure; else conf=auto/configure; fi && \
	    $$conf "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt='$(NGINX_CC_OPT) $(WARN_CFLAGS)' \
	        $(if $(NGINX_LD_OPT),--with-ld-opt='$(NGINX_LD_OPT)') \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
	    || { tail -n 30 $(BUILD)/configure.log; exit 1; }

$(MODULE_SO): $(NGINX_TREE)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(NGINX_TREE) -f objs/Makefile modules
	cp $(NGINX_TREE)/objs/ngx_http_yoti_idv_module.so $@.new
	mv -f $@.new $@

# nginx itself, from the same configured tree (make test-nginx-versions,
# make test-asan; NGINX_SRC=... make nginx)
nginx: $(NGINX_TREE)/objs/nginx

$(NGINX_TREE)/objs/nginx: $(NGINX_TREE)/objs/Makefile
	$(MAKE) -C $(NGINX_TREE) -f objs/Makefile binary

FORCE:

unit:
	$(MAKE) -C t/unit test

test: deps-test
	$(MAKE) module
	$(MAKE) unit
	@echo "test: the configuration tests (t/001, t/010, t/013, t/042, ...)" \
	      "start nginx with broken configurations on purpose: the" \
	      "[emerg] and [warn] lines they print are expected; prove's" \
	      "summary at the end says whether anything failed"
	@./util/prove.sh $(MODULE_SO) $(NGINX_BIN)

# ---- the Debian package ---------------------------------------------------

VERSION      := $(shell sed -n 's/^\#define NGX_HTTP_YOTI_IDV_VERSION *"\(.*\)"/\1/p' \
                    ngx_http_yoti_idv_module/ngx_http_yoti_idv_module.h)
DEB_OUT      := $(BUILD)/deb
DEB_FILE      = $(DEB_OUT)/libnginx-mod-http-yoti-idv_$(VERSION)_$(shell dpkg --print-architecture).deb

deps-deb:
	@./util/install-deps.sh $(DEB_PACKAGE)

deb: deps-deb
	@./util/build-deb.sh $(DEB_OUT)

test-package: deps-test deb
	@./util/install-deps.sh $(DEB_PKGTEST)
	@./util/test-package.sh $(DEB_FILE) \
	    $(DEB_OUT)/src/libnginx-mod-http-yoti-idv-$(VERSION)

# Without a package: the module, its load_module line (absolute: a plain
# nginx has no /usr/lib/nginx/modules yet) and its modules-enabled link,
# creating the directories that do not exist yet
DESTDIR           ?=
MODULES_DIR       ?= /usr/lib/nginx/modules
MODULES_AVAILABLE ?= /usr/share/nginx/modules-available
MODULES_ENABLED   ?= /etc/nginx/modules-enabled

install: module
	@if [ -z "$(DESTDIR)" ] && dpkg-query -W -f='$${Status}' \
	        libnginx-mod-http-yoti-idv 2>/dev/null | grep -q ' installed'; then \
	    echo "make install: the package libnginx-mod-http-yoti-idv is" \
	         "installed; apt-get remove it first (or set DESTDIR)" >&2; \
	    exit 1; fi
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(MODULES_AVAILABLE) \
	    $(DESTDIR)$(MODULES_ENABLED)
	install -m 0644 $(MODULE_SO) $(DESTDIR)$(MODULES_DIR)/
	echo 'load_module $(MODULES_DIR)/ngx_http_yoti_idv_module.so;' \
	    > $(DESTDIR)$(MODULES_AVAILABLE)/mod-http-yoti-idv.conf
	chmod 0644 $(DESTDIR)$(MODULES_AVAILABLE)/mod-http-yoti-idv.conf
	ln -sfn $(MODULES_AVAILABLE)/mod-http-yoti-idv.conf \
	    $(DESTDIR)$(MODULES_ENABLED)/50-mod-http-yoti-idv.conf

# Always the t/compat runner: it turns valgrind's logs into TAP tests
# (t/valgrind.suppress lists what is nginx's own, never the module's).
test-valgrind: deps-valgrind
	$(MAKE) module
	@TEST_NGINX_USE_VALGRIND=1 YOTI_IDV_COMPAT=1 \
	    ./util/prove.sh $(MODULE_SO) $(NGINX_BIN)

# ---- nginx built from Debian's source packages --------------------------
#
# make test-nginx-versions, make test-asan: util/nginx-source.sh gets
# `apt-get source nginx` of each suite through a private apt configuration
# under build/src/SUITE/apt; NGINX_FALLBACK_<suite> names a version (and the
# SHA-256 of its .dsc) for a mirror whose pool lags behind its index.

NGINX_SUITES            ?= bookworm trixie
NGINX_FALLBACK_bookworm := 1.22.1-9+deb12u9 \
    28baa4abda06503ae8ecde6e9f049905de7c172d6ec767636628bfcd87499cf4
NGINX_FALLBACK_trixie   := 1.26.3-3+deb13u9 \
    ede21ae86c60e8be4112f871d319724d19c0f1b3b1840aa9abbcce4c1a7244b9

# the nginx modules the t/ suite uses, and what a dynamic module needs
NGINX_TEST_FLAGS := --with-compat --with-debug --with-threads \
                    --with-pcre-jit --with-http_ssl_module \
                    --with-http_v2_module --with-http_realip_module \
                    --with-http_auth_request_module \
                    --with-http_stub_status_module

# nginx and the module, sanitized alike; NGX_DEBUG_PALLOC makes
# every pool allocation its own malloc(), so that ASan sees its bounds
ASAN_CC_OPT  := -g -O1 -fPIC -fno-omit-frame-pointer \
                -fsanitize=address,undefined -DNGX_DEBUG_PALLOC=1
ASAN_LD_OPT  := -fsanitize=address,undefined

DEB_SOURCE   := dpkg-dev debian-archive-keyring libpcre2-dev zlib1g-dev \
                libssl-dev

.PHONY: deps-source test-nginx-versions test-asan

deps-source:
	@./util/install-deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_SOURCE)

# build/src/SUITE/nginx: the unpacked source package
$(BUILD)/src/%/nginx/configure:
	@./util/nginx-source.sh $* $(BUILD)/src/$* $(NGINX_FALLBACK_$*)

# build/versions/SUITE: nginx and the module, from one configured tree
nginx-version-%: deps-source $(BUILD)/src/%/nginx/configure
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/versions/$* \
	    NGINX_SRC=$(BUILD)/src/$*/nginx \
	    NGINX_CONF_FLAGS="$(NGINX_TEST_FLAGS)" \
	    NGINX_CC_OPT="-g -O2 -fPIC" NGINX_LD_OPT= module nginx

test-nginx-versions: $(addprefix nginx-version-,$(NGINX_SUITES))
	@failed=; \
	for suite in $(NGINX_SUITES); do \
	    v=$(BUILD)/versions/$$suite; \
	    echo "== the t/ suite against $$($$v/nginx/objs/nginx -v 2>&1)" \
	         "(Debian $$suite's source package)"; \
	    { ./util/prove.sh $$v/ngx_http_yoti_idv_module.so \
	        $$v/nginx/objs/nginx $(TESTS) 2>&1; echo $$? > $$v/prove.rc; } \
	        | tee $$v/prove.log; \
	    [ "$$(cat $$v/prove.rc)" = 0 ] || failed="$$failed $$suite"; \
	done; \
	for suite in $$failed; do \
	    echo "== what failed against Debian $$suite's nginx" \
	         "($(BUILD)/versions/$$suite/prove.log):"; \
	    grep -E '^(not ok|#  )' \
	        $(BUILD)/versions/$$suite/prove.log || true; \
	    sed -n '/^Test Summary Report/,$$p' \
	        $(BUILD)/versions/$$suite/prove.log; \
	done; \
	if [ -n "$$failed" ]; then echo "test-nginx-versions: failed:$$failed"; \
	    exit 1; fi

# build/asan: nginx 1.22.1 and the module under ASan and UBSan; the
# reports go to build/asan/logs (util/test-asan.sh)
test-asan: deps-source $(BUILD)/src/bookworm/nginx/configure
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan \
	    NGINX_SRC=$(BUILD)/src/bookworm/nginx \
	    NGINX_CONF_FLAGS="$(NGINX_TEST_FLAGS)" \
	    NGINX_CC_OPT="$(ASAN_CC_OPT)" NGINX_LD_OPT="$(ASAN_LD_OPT)" \
	    module nginx
	@./util/test-asan.sh $(BUILD)/asan/ngx_http_yoti_idv_module.so \
	    $(BUILD)/asan/nginx/objs/nginx $(BUILD)/asan/logs $(TESTS)

# -------------------------------------------------------------------------

# libFuzzer targets (t/unit/fuzz_*.c), each for FUZZ_TIME seconds; the
# directive parsers are fuzzed on the core of Debian's bookworm nginx
# source package, as make test-nginx-versions builds it
DEB_FUZZ     := clang libclang-rt-14-dev libcjson-dev libhiredis-dev
FUZZ_TIME    ?= 60

.PHONY: fuzz

fuzz: nginx-version-bookworm
	@./util/install-deps.sh $(DEB_FUZZ)
	$(MAKE) -C t/unit fuzz FUZZ_TIME=$(FUZZ_TIME) \
	    FUZZ_NGINX=$(BUILD)/versions/bookworm/nginx

demo: deps-test
	$(MAKE) module
	@KEEP=$(KEEP) ./util/demo.sh $(MODULE_SO) $(NGINX_BIN)

bench: deps-bench
	$(MAKE) module
	@./bench/run.sh $(MODULE_SO) $(NGINX_BIN) $(BENCH_OPTS)

# only the zone's rows (bench/zone_users.py): BENCH_OPTS="--large" for 1M users
bench-zone: deps-bench
	$(MAKE) module
	@/usr/bin/python3 bench/zone_users.py --module $(MODULE_SO) \
	    --nginx $(NGINX_BIN) $(BENCH_OPTS)

bench-redis-restart: deps-bench
	$(MAKE) module
	@./bench/redis-restart.sh $(MODULE_SO) $(NGINX_BIN) $(BENCH_OPTS)

clean:
	rm -rf $(BUILD) t/servroot*
	$(MAKE) -C t/unit clean
