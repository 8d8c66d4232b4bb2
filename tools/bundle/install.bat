@echo off
rem Offline installer of relief for 64-bit Windows: needs no package index.
rem Usage: install.bat [venv folder]      default: %LOCALAPPDATA%\relief\venv
rem Saved as UTF-8 without BOM: only ASCII may come before "chcp 65001" and after the code page is restored.
setlocal
for /f "tokens=2 delims=:." %%C in ('chcp') do set "OLD_CP=%%C"
chcp 65001 >nul

set "BUNDLE=%~dp0"
if not exist "%BUNDLE%wheels\common\" (
    echo 错误：找不到安装文件。请先把压缩包完整解压，再运行解压出的 install.bat。
    goto fail
)
set "VENV=%~1"
if "%VENV%"=="" set "VENV=%LOCALAPPDATA%\relief\venv"
for %%I in ("%VENV%") do set "VENV=%%~fI"
rem A trailing backslash would escape the closing quote of "%VENV%" in the arguments of python.
if "%VENV:~-1%"=="\" set "VENV=%VENV:~0,-1%"

rem The newest Python that this bundle has wheels for: the py launcher first, then python on PATH.
set "PY="
for %%M in (13 12 11) do if not defined PY call :try_python %%M "py -3.%%M"
for %%M in (13 12 11) do if not defined PY call :try_python %%M "python"
if not defined PY (
    echo 错误：没有找到本安装包支持的 64 位 Python 3.11–3.13。
    echo       请先安装 Python 3.11、3.12 或 3.13（64 位，安装时勾选“Add python.exe to PATH”），然后重新运行本程序。
    goto fail
)
set "WHEELS=%BUNDLE%wheels\win_amd64-cp3%MINOR%"

rem A folder that holds files but no virtual environment is refused: venv would spill into it.
if exist "%VENV%\" if not exist "%VENV%\pyvenv.cfg" for /f %%F in ('dir /b /a "%VENV%" 2^>nul') do (
    echo 错误：目录 "%VENV%" 已存在，但不是 Python 虚拟环境。
    echo       请换一个安装目录，例如：install.bat D:\relief-venv
    goto fail
)

echo 使用 %PY% 在 "%VENV%" 创建虚拟环境 …
rem --clear: a reinstall with another Python must not keep the old version's compiled packages.
%PY% -m venv --clear "%VENV%"
if %ERRORLEVEL% neq 0 (
    echo 错误：创建虚拟环境失败。请确认对该目录有写入权限，或换一个安装目录后重新运行。
    goto fail
)

echo 正在安装 relief（离线）…
"%VENV%\Scripts\python.exe" -m pip install --no-index --upgrade --find-links "%BUNDLE%wheels\common" --find-links "%WHEELS%" relief
if %ERRORLEVEL% neq 0 (
    echo 错误：安装失败。请把上面的英文提示截图发给技术支持。
    goto fail
)

rem relief.bat next to this file, so that "relief" works in this folder. For the default folder it names
rem %LOCALAPPDATA% rather than the expanded path: a user name in Chinese would not survive the code page.
set "EXE=%VENV%\Scripts\relief.exe"
if "%~1"=="" (
    > "%BUNDLE%relief.bat" echo @"%%LOCALAPPDATA%%\relief\venv\Scripts\relief.exe" %%*
) else (
    > "%BUNDLE%relief.bat" echo @"%EXE%" %%*
)
if not exist "%BUNDLE%relief.bat" echo 提示：无法在本文件夹创建 relief.bat，请使用下面的完整路径。

echo.
echo 安装完成。在本文件夹打开命令提示符（在文件夹地址栏输入 cmd 后回车），先试试：
echo     relief --version
echo     relief demo
echo 在其他文件夹请使用完整路径："%EXE%"
chcp %OLD_CP% >nul
pause
exit /b 0

:fail
echo.
chcp %OLD_CP% >nul
pause
exit /b 1

rem call :try_python MINOR "COMMAND": sets PY and MINOR if COMMAND runs a 64-bit Python 3.MINOR
rem and the bundle has its wheels.
:try_python
if not exist "%BUNDLE%wheels\win_amd64-cp3%1\" exit /b 0
%~2 -c "import sys; sys.exit(sys.version_info[:2] != (3, %1) or sys.maxsize < 2**32)" >nul 2>&1
if %ERRORLEVEL% neq 0 exit /b 0
set "PY=%~2"
set "MINOR=%1"
exit /b 0
