"""Independent high-precision references shared by the tests (mpmath quadrature)."""

import mpmath


def mp_gauss(f, K, dps=30, points=(0,)):
    """⟨f(z)⟩_K by mpmath tanh–sinh quadrature at ``dps`` digits, split at ``points``."""
    with mpmath.workdps(dps):
        s = mpmath.sqrt(mpmath.mpf(K))
        cuts = [-mpmath.inf] + [mpmath.mpf(p) / s for p in points] + [mpmath.inf]
        return mpmath.quad(lambda u: f(s * u) * mpmath.npdf(u), cuts)
