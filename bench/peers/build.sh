#!/usr/bin/env bash
# bench/peers/build.sh: builds the peer echo servers that bench/echo.sh and
# bench/callgrind.sh run beside Pants, each one only when what it needs is
# installed (never by meson or CI: they are comparisons, not part of Pants).
#
# Usage: bench/peers/build.sh OUTDIR
#
# Prints one line per peer that is ready: "NAME PATH". A peer whose package
# is missing is skipped with one line on stderr saying which package to
# install. Binaries are rebuilt only when their source is newer.
#
#   uring_c     uring_echo.c, hand-written liburing loop   [liburing-dev]
#   epoll_c     epoll_echo.c, hand-written epoll loop       [libc only]
#   asio_epoll  asio_echo.cpp, Boost.Asio, epoll reactor    [libboost-dev]
#   asio_uring  asio_echo.cpp, Boost.Asio, io_uring backend [libboost-dev >= 1.78, liburing-dev]
#   libuv       libuv_echo.c                                [libuv1-dev]
#
# All are built at -O3 like the release build of Pants they are compared with.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
cc=${CC:-cc}
cxx=${CXX:-c++}

has_header() { echo "#include <$1>" | "$cxx" -x c++ -std=c++20 -fsyntax-only - 2>/dev/null; }

# build NAME SOURCE COMPILER FLAGS...: compiles when stale, prints "NAME PATH".
build() {
    local name=$1 src=$here/$2 compiler=$3
    shift 3
    local bin=$out/$name
    if [[ ! -x $bin || $src -nt $bin || $0 -nt $bin ]]; then
        if ! "$compiler" -O3 -DNDEBUG -g -o "$bin" "$src" "$@" 2>"$out/$name.log"; then
            echo "peers: $name failed to build (see $out/$name.log)" >&2
            return 0
        fi
    fi
    echo "$name $bin"
}

if has_header liburing.h; then
    build uring_c uring_echo.c "$cc" -luring
else
    echo "peers: uring_c skipped: install liburing-dev" >&2
fi
build epoll_c epoll_echo.c "$cc"
if has_header boost/version.hpp; then
    build asio_epoll asio_echo.cpp "$cxx" -std=c++20
    if has_header boost/asio/detail/io_uring_service.hpp && has_header liburing.h; then
        build asio_uring asio_echo.cpp "$cxx" -std=c++20 -DBOOST_ASIO_HAS_IO_URING -DBOOST_ASIO_DISABLE_EPOLL -luring
    else
        echo "peers: asio_uring skipped: this Boost has no io_uring backend (Boost.Asio >= 1.78 has one)" >&2
    fi
else
    echo "peers: asio_epoll, asio_uring skipped: install libboost-dev" >&2
fi
if has_header uv.h; then
    build libuv libuv_echo.c "$cc" -luv
else
    echo "peers: libuv skipped: install libuv1-dev" >&2
fi
