#!/bin/sh
# Offline installer of relief for x86_64 Linux (Kylin, UOS, ...): needs no package index.
# Usage: sh install.sh [venv folder]      default: ~/.local/share/relief/venv
# Set PYTHON=/path/to/python3 to choose the interpreter yourself.
set -eu

fail() {
    printf '错误：%s\n' "$1" >&2
    shift
    for line in "$@"; do printf '      %s\n' "$line" >&2; done
    exit 1
}

BUNDLE=$(cd "$(dirname "$0")" && pwd)
[ -d "$BUNDLE/wheels/common" ] || fail "找不到安装文件。请先把压缩包完整解压，再运行解压出的 install.sh。"
VENV=${1:-"$HOME/.local/share/relief/venv"}
case $VENV in /*) ;; *) VENV="$PWD/$VENV" ;; esac
BIN="$HOME/.local/bin"
SUPPORTED='import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'

[ "$(uname -m)" = x86_64 ] ||
    fail "本安装包只适用于 x86_64（amd64）电脑，这台电脑是 $(uname -m)。" "请联系技术支持索取对应的安装包。"

# The first supported Python that this bundle has wheels for.
PY=
for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    "$candidate" -c "$SUPPORTED" 2>/dev/null || continue
    WHEELS="$BUNDLE/wheels/manylinux_x86_64-$("$candidate" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    if [ -d "$WHEELS" ]; then
        PY=$candidate
        break
    fi
done
[ -n "$PY" ] ||
    fail "没有找到本安装包支持的 Python（3.11–3.13）。请先安装 Python 3.11、3.12 或 3.13，然后重新运行本程序。" \
         "如果已装在别处，可以这样指定：PYTHON=/那个/目录/python3 sh install.sh"

if [ -d "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV")" ]; then
    fail "目录 $VENV 已存在，但不是 Python 虚拟环境。" "请换一个安装目录，例如：sh install.sh ~/relief-venv"
fi

echo "使用 $PY 在 $VENV 创建虚拟环境 …"
# --clear: a reinstall with another Python must not keep the old version's compiled packages.
"$PY" -m venv --clear "$VENV" ||
    fail "创建虚拟环境失败。" "统信 UOS、Debian 类系统请先安装 venv 模块（例如 sudo apt install python3-venv），然后重新运行。"

echo "正在安装 relief（离线）…"
"$VENV/bin/python" -m pip install --no-index --upgrade \
    --find-links "$BUNDLE/wheels/common" --find-links "$WHEELS" relief ||
    fail "安装失败，请把上面的英文提示截图发给技术支持。" \
         "注意：本安装包需要 glibc 2.28 或更新的系统（麒麟 V10、统信 UOS 20 均满足），本机：$(ldd --version 2>&1 | head -n 1)"

RELIEF="$VENV/bin/relief"
{ mkdir -p "$BIN" && ln -sf "$RELIEF" "$BIN/relief"; } || true  # without the link, the full path below still works

echo
echo "安装完成。先试试（演示会用到安装包里的 sample_data 和 rules.yaml）："
echo "    cd \"$BUNDLE\""
echo "    relief --version"
echo "    relief demo"
echo "relief 的完整路径：$RELIEF"
case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "如果提示找不到 relief 命令，请重新登录后再试，或使用上面的完整路径。" ;;
esac
