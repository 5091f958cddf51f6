#!/usr/bin/env bash
# The per-element math of kernels/float_math.cuh, activation_math.cuh, nn_math.cuh, pointwise_loss_math.cuh,
# norms_math.cuh and tensor_math.cuh (namespaces normrt::fmath, nnmath, lossmath, normmath and tmath) must be inlined
# into the CPU loops that call it: a call per element leaves a loop scalar (SiLU's backward and Mish once ran 16x
# slower so, and no test noticed; log1p, exp2 and erf 10-20x when tmath::apply fell out of line). Fails, naming them,
# on any out-of-line copy of those functions (templates too) in the library archive given. Optimised builds only (at
# -O0 nothing is inlined).
#   tests/check_inline_math.sh build/libnormrt.a [NAMESPACES]   (NAMESPACES: an alternation, fmath|nnmath|...)
set -euo pipefail
archive=$1
namespaces=${2:-fmath|nnmath|lossmath|normmath|tmath}
# (the return type before the name has no '<' or '(': a loop instantiated on a tmath op names tmath in its arguments)
copies=$(nm -C "$archive" | grep -E " [TtWw] ([^<(]* )?normrt::($namespaces)::[A-Za-z_0-9]+(<[^(]*>)?\(" |
         sed -E 's/^[0-9a-f]* [TtWw] //' | sort -u || true)
if [ -n "$copies" ]; then
  echo "out-of-line per-element math in $archive (mark it NORMRT_FMATH_INLINE):"
  echo "$copies"
  exit 1
fi
echo "no out-of-line per-element math in $archive"
