# atomgrad: make | make test | make test-slow | make demo | make bench | make debug | make clean | make deps
# Everything builds under $(B)/, mirroring the source tree.

B        ?= build
CXX      ?= g++
CXXFLAGS ?= -O2 -g
PKGS     := openblas lapacke tomlplusplus
DEBS     := catch2 libopenblas-dev liblapacke-dev libtomlplusplus-dev pkg-config
MAKEFLAGS += --no-print-directory
ifeq ($(MAKELEVEL),0)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j2
endif
endif

# The packages are present when pkg-config knows them and Catch2's header exists; otherwise the
# targets that need them install them first (make deps).
HAVE_DEPS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && test -f /usr/include/catch2/catch.hpp && echo yes)

# Flags the build always needs (CXXFLAGS on the command line replaces only the optimisation flags).
WARN     := -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -I.
# errno from libm is never read; without it sqrt and friends become single instructions that
# vectorise. Loops with a remainder vectorise too (the -O2 default model refuses them).
WARN     += -fno-math-errno -fvect-cost-model=cheap
ifeq ($(NATIVE),1)
WARN += -march=native
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif
CPPFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

LIB_SRC   := $(wildcard autodiff/*.cpp nn/*.cpp nn/*/*.cpp descriptors/*.cpp uq/*.cpp) $(filter-out cli/main.cpp,$(wildcard cli/*.cpp))
LIB_OBJ   := $(LIB_SRC:%.cpp=$(B)/%.o)
TEST_SRC  := $(wildcard tests/*.cpp tests/*/*.cpp tests/*/*/*.cpp)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(B)/%.o)
BENCH_SRC := $(wildcard bench/*.cpp)
BENCH_BIN := $(BENCH_SRC:%.cpp=$(B)/%)
LIB       := $(B)/libatomgrad.a
CLI       := $(B)/atomgrad
TEST_BIN  := $(B)/tests/run_tests

.PHONY: all test test-slow demo bench debug clean deps check-deps
all: check-deps
	@$(MAKE) $(LIB) $(CLI)

check-deps:
ifneq ($(HAVE_DEPS),yes)
	@$(MAKE) deps
endif

deps:
	@if pkg-config --exists $(PKGS) 2>/dev/null && test -f /usr/include/catch2/catch.hpp; then \
	  echo "deps: all present"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "deps: installing $(DEBS)"; \
	  $$SUDO apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(DEBS) >/dev/null && \
	  echo "deps: installed"; \
	fi

$(B)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(WARN) $(CXXFLAGS) $(FILE_FLAGS) -MMD -MP -c $< -o $@

# The vector kernels pass 32-byte vectors between inline functions of one file: GCC's note about
# the AVX calling convention does not concern them.
$(B)/autodiff/fastmath.o: FILE_FLAGS := -Wno-psabi

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

$(CLI): $(B)/cli/main.o $(LIB)
	$(CXX) $(WARN) $(CXXFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Catch2 precompiled for the tests (same flags as the test objects, so GCC accepts it).
PCH := $(B)/tests/catch_pch.hpp.gch
$(PCH): tests/catch_pch.hpp
	@mkdir -p $(@D)
	@cp $< $(B)/tests/catch_pch.hpp
	$(CXX) $(CPPFLAGS) $(WARN) $(CXXFLAGS) -x c++-header $< -o $@
# (not main.cpp: it configures Catch2's runner before including the header)
PCH_USERS := $(filter-out $(B)/tests/main.o,$(TEST_OBJ))
$(PCH_USERS): FILE_FLAGS := -include $(B)/tests/catch_pch.hpp
$(PCH_USERS): $(PCH)

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CXX) $(WARN) $(CXXFLAGS) $(LDFLAGS) $(TEST_OBJ) $(LIB) -o $@ $(LDLIBS)

$(B)/bench/%: bench/%.cpp $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(WARN) $(CXXFLAGS) $< $(LIB) -o $@ $(LDLIBS)

# The fast suite (< 5 minutes on 2 cores); it ends with "N passed, N failed".
test: check-deps
	@$(MAKE) $(TEST_BIN) $(CLI)
	@OPENBLAS_NUM_THREADS=1 ./$(TEST_BIN) $(TEST_ARGS)

# Slow checks (tagged [.slow]): full training runs and reproducibility.
test-slow: check-deps
	@$(MAKE) $(TEST_BIN) $(CLI)
	@OPENBLAS_NUM_THREADS=1 ./$(TEST_BIN) "[.slow]"

demo: check-deps
	@$(MAKE) $(CLI)
	@bash examples/demo.sh

bench: check-deps
	@$(MAKE) $(BENCH_BIN) $(CLI)
	@bash bench/run.sh

debug:
	@$(MAKE) B=build-debug CXXFLAGS="-O0 -g -fsanitize=address,undefined" LDFLAGS="-fsanitize=address,undefined" test

clean:
	rm -rf build build-debug

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(B)/cli/main.d
