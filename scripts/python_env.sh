# Sourced by the figure scripts: PYTHON, the interpreter (default: .venv/bin/python as made by
# scripts/test.sh, else python3), and TensorFlow's C++ log level (default 2: warnings off).
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
