"""Float32 comparisons sized to the computation, not to one machine's rounding.

Two float32 computations of the same quantity that sum in a different order (chunked vs whole,
sharded vs single device, another CPU's vector width) differ by a few ulp of the *largest*
magnitudes they add up, not of each element. An absolute 1e-6 on values of ~2 is 8 ulp and fails
on some machines. These helpers compare relative to the scale of the expected array.
"""

import numpy as np

# float32 eps is 1.2e-7; 1e-5 of the array's scale leaves ~80 ulp for reductions over thousands
# of terms in another order, and still catches any real (>= 1e-4 relative) discrepancy.
F32_RTOL = 1e-5


def assert_f32_close(actual, desired, *, rtol=F32_RTOL, err_msg=""):
  """Elementwise |actual - desired| <= rtol * max(1, max|desired|)."""
  actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
  scale = max(1.0, float(np.max(np.abs(desired), initial=0.0)))
  np.testing.assert_allclose(actual, desired, rtol=0, atol=rtol * scale, err_msg=err_msg)
