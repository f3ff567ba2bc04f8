# scripts/deps.sh: the Debian packages Pants needs, installed once.
#
# Sourced by run.sh and test.sh (not run on its own):
#   pants_require_packages g++ meson ...
# Missing packages are installed with apt-get when we are root (CI, a fresh
# container); otherwise the exact apt-get line is printed and we stop, since
# asking for sudo from inside a build script surprises people.

# Packages every build needs (DESIGN.md, Dependencies).
# libpcre2-dev: the regex read_delimiter (PCRE2, JIT, partial matching).
PANTS_BUILD_PACKAGES=(g++ meson ninja-build cmake pkg-config liburing-dev doctest-dev libexpected-dev libpcre2-dev)
# Extra packages for ./test.sh: a local DNS server and dig for the resolver
# tests, clang and its runtime for the libFuzzer targets.
PANTS_TEST_PACKAGES=(dnsmasq-base bind9-dnsutils clang libclang-rt-14-dev)

# Prints the packages among "$@" that are not installed.
pants_missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

# Installs the missing packages among "$@", or explains how and fails.
pants_require_packages() {
    local missing
    mapfile -t missing < <(pants_missing_packages "$@")
    (( ${#missing[@]} == 0 )) && return 0

    if [[ $(id -u) -eq 0 ]]; then
        echo "Installing missing packages: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "Missing Debian packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
}

# Configures build directory $1 with the remaining arguments as meson
# options, or reconfigures it if it exists (options may have changed).
pants_setup() {
    local dir=$1
    shift
    if [[ -f "$dir/build.ninja" ]]; then
        meson configure "$dir" "$@" >/dev/null
    else
        rm -rf "$dir"  # a half-made directory from an interrupted setup
        meson setup "$dir" "$@"
    fi
}
