# ---------------------------------------------------------------------------------
# Generic numerics from codegen/numerics_template.py: only the definitions this module
# uses (render.py drops the rest), otherwise verbatim.
#
# Calls between compiled functions pass integer arguments as np.int64(...), never as
# bare literals: numba compiles a callee once per literal value it is called with
# (Literal[int] types), which multiplied the first-use compile time.
#
# Needs from the module that includes it: _factor(k, z), _smooth(k, m, s) and the
# arrays _HZ (float64), _NKINKS (int64), _KINKS (float64, padded), _HAS_SMOOTH (bool);
# for the four-point functions on shared nodes (_shared_nested) also _monomials(shape,
# i, z, out) and the _SH_* tables of codegen.lower.QuadShape (see _shared_nested).
#
# Gaussian expectations of separable products  < prod_i f_i(z_i) >,  z ~ N(0, C),
# are computed in Cholesky coordinates z = L u, u ~ N(0, I), one nested level per
# variable (outermost u_0):
#   * smooth factors: trapezoid rule on the grid u = j*h inside the ball |u| <= R(tol).
#     It converges exponentially for functions analytic in a strip; the step is
#     h_i = min(h_gauss(tol), min_{j>=i} hz_j(tol) / |L[j, i]|), where hz_j is the
#     z-step calibrated for factor j at generation time (_HZ, error 1e-10) and
#     rescaled to tol with the exp(-c/h) error law.
#   * kinked factors: Gauss-Legendre on sub-intervals of length <= span, split at
#     the kinks (the break points move with the outer variables).
#   * innermost level: the closed-form smoothing E[f(m + s e)] when the rule table
#     has one (_smooth), otherwise the same rules.  For three and four variables (only
#     _shared_nested: one- and two-sample expectations use _nested) and a
#     smooth innermost factor, g(m) = E[f(m + s e)] is tabulated once per integral on
#     a uniform grid of step zstep/16 over the range of m reachable from the ball and
#     read by 6-point Lagrange interpolation (error ~ (step/strip)^6, below the
#     quadrature tolerance; it replaces O(1/h) factor evaluations per outer node).
# Four-sample atoms share the nodes (_shared_nested): at a sorted quadruple the distinct
# samples are the levels, every factor ("monomial") any atom needs at a sample is
# evaluated once per node, and every integrand (a choice of one monomial per sample) is
# accumulated in the same pass; steps and break points are the finest/union over the
# monomials of each sample, so each integral is at least as accurate as on its own.
# Pairs of distinct samples with smooth factors use the Mehler (Hermite) series
#   < f(z_a) g(z_b) > = sum_k c_k^f(K_aa) c_k^g(K_bb) rho^k
# with per-sample coefficients c_k = E[f(sqrt(K_aa) x) h_k(x)] (normalised Hermite
# h_k), truncated with a bound from the coefficient tails (Parseval), and fall back
# to the nested rule for a pair when the bound cannot be met.
# ---------------------------------------------------------------------------------

_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_MAXN = 4096
#: Tolerances (relative to the size of the integrand) of the rules used for:
_TOL_1D = 1e-13        # one-sample expectations
_TOL_2D = 1e-11        # pairs by the nested rule (kinked factors, Mehler fall-back)
_TOL_ND = 1e-11        # three- and four-sample expectations (four-point function): the nested
                       # rule's realised error is ~50x its per-level target, so 1e-11 gives the
                       # stated 1e-9 (tests/codegen/test_codegen.py, vs 4-D Gauss-Hermite of degree 48)
_TOL_MEHLER = 1e-12    # Mehler series truncation
_MEHLER_ORDER = 128    # per unit of the largest K_aa: the Hermite coefficients of f(sqrt(K) x)
_MEHLER_MAX = 1024     # decay like exp(-c sqrt(k / K)), so the order needed grows like K
_GLA_X, _GLA_W = np.polynomial.legendre.leggauss(20)
_GLA_SPAN = 2.0
_GLB_X, _GLB_W = np.polynomial.legendre.leggauss(12)
_GLB_SPAN = 3.0
_STATUS_DEGRADED = 0
#: The 24 permutations of four positions (to fill symmetric four-index arrays).
_PERM4 = np.array([(a, b, c, d) for a in range(4) for b in range(4) for c in range(4) for d in range(4)
                   if a != b and a != c and a != d and b != c and b != d and c != d], dtype=np.int64)


@numba.njit(cache=True)
def _pos(x):
    return x if x > 0.0 else 0.0


@numba.njit(cache=True)
def _clip1(x):
    if x > 1.0:
        return 1.0
    if x < -1.0:
        return -1.0
    return x


#: R(z) = (asin(sqrt z)/sqrt z - 1)/z on [0, 1/4]: monomial coefficients of its degree-12
#: Chebyshev interpolant (codegen/arcsine.py derives them; a test checks they match).
_ASIN_R = (
    0.16666666666666669,
    0.07499999999998433,
    0.04464285714635543,
    0.030381944138531247,
    0.02237217294214989,
    0.017352392720869973,
    0.013971212973552933,
    0.011479177415184906,
    0.01032281435018578,
    0.005457506718640358,
    0.01740087944269402,
    -0.014851887071247204,
    0.028757851367421566,
)
_HALF_PI = 1.5707963267948966
_PI = 3.141592653589793


@numba.njit(cache=True)
def _asin_r(z):
    c = _ASIN_R
    p = c[12]
    p = p * z + c[11]
    p = p * z + c[10]
    p = p * z + c[9]
    p = p * z + c[8]
    p = p * z + c[7]
    p = p * z + c[6]
    p = p * z + c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    return p


@numba.njit(cache=True)
def _asin_half(x):
    """(p, big): asin|x| = p if not big, pi/2 - 2p if big (|x| > 1/2); see codegen/arcsine.py."""
    a = abs(x)
    big = a > 0.5
    z = (1.0 - a) * 0.5 if big else a * a
    s = math.sqrt(z)
    s = s if big else a
    return s + s * z * _asin_r(z), big


@numba.njit(cache=True)
def _asin(x):
    """arcsin x for x in [-1, 1] (callers clip), <= 3 ulp; arithmetic and selects only,
    so LLVM vectorises loops that call it (math.asin is an opaque libm call)."""
    p, big = _asin_half(x)
    r = _HALF_PI - 2.0 * p if big else p
    return math.copysign(r, x)


@numba.njit(cache=True)
def _acos(x):
    """arccos x for x in [-1, 1] (callers clip), <= 3 ulp, vectorisable like _asin;
    acos x = 2 asin sqrt((1 - x)/2) near x = 1 keeps small angles accurate."""
    p, big = _asin_half(x)
    if big:
        return 2.0 * p if x > 0.0 else _PI - 2.0 * p
    return _HALF_PI - math.copysign(p, x)


@numba.njit(cache=True)
def _heaviside(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return 0.0
    return 0.5


@numba.njit(cache=True)
def _sign(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


@numba.njit(cache=True)
def _radius(tol):
    """Radius of the ball |u| <= R outside which the Gaussian mass is negligible."""
    return math.sqrt(2.0 * math.log(1.0 / tol)) + 1.5


@numba.njit(cache=True)
def _gauss_step(tol):
    """Largest trapezoid step for the Gaussian weight times slowly varying factors.

    The Gaussian alone has error 2 exp(-2 pi^2/h^2); polynomial growth of the factors
    (products of up to four sigma's at small K) multiplies it by ~(2 pi/h)^p, so the
    step is taken 1.5x finer than the pure-Gaussian bound (measured: tanh four-point
    patterns at K ~ 0.1 go from 2e-8 to 4e-12 relative error).
    """
    return 0.6 * math.pi * math.sqrt(2.0 / math.log(2.0 / tol))


@numba.njit(cache=True)
def _hz_step(hz, tol):
    """Trapezoid step in z at tolerance tol for a factor whose calibrated step (at 1e-10) is hz."""
    return 0.8 * hz * math.log(1e10) / math.log(1.0 / tol)


@numba.njit(cache=True)
def _zstep(fid, tol):
    """Trapezoid step in z for factor fid at tolerance tol (calibrated at 1e-10)."""
    return _hz_step(_HZ[fid], tol)


@numba.njit(cache=True)
def _chol(C, m):
    """Lower Cholesky factor of a PSD m x m matrix; zero pivots for (near-)singular directions."""
    L = np.zeros((4, 4))
    for i in range(m):
        for j in range(i + 1):
            s = C[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s > 1e-14 * C[i, i] and s > 0.0:
                    L[i, i] = math.sqrt(s)
                else:
                    L[i, i] = 0.0
            elif L[j, j] > 0.0:
                L[i, j] = s / L[j, j]
            else:
                L[i, j] = 0.0
    return L


@numba.njit(cache=True)
def _level_steps(m, L, hz, tol):
    """Trapezoid step of each level i < m of the nested rule in z = L u: the Gaussian's
    step, or finer where a factor j >= i (calibrated z-step hz[j]) varies faster along u_i,
    h_i = min(h_gauss, min_j hz_j(tol) / |L[j, i]|)."""
    hg = _gauss_step(tol)
    h = np.empty(4)
    for i in range(m):
        hi = hg
        for j in range(i, m):
            c = abs(L[j, i])
            if c > 0.0:
                step = _hz_step(hz[j], tol) / c
                if step < hi:
                    hi = step
        h[i] = hi
    return h


@numba.njit(cache=True)
def _level_nodes(fid, shift, lii, h, radius, grade, xs, ws, flags):
    """Nodes and weights (normal density included) of one level of factor fid."""
    return _level_nodes_at(_KINKS[fid], _NKINKS[fid], shift, lii, h, radius, grade, xs, ws, flags)


@numba.njit(cache=True)
def _level_nodes_at(kinks, nk, shift, lii, h, radius, grade, xs, ws, flags):
    """Nodes and weights (normal density included) of one level whose factors break at
    kinks[:nk] (sorted); returns their number."""
    if lii <= 0.0:
        xs[0] = 0.0
        ws[0] = 1.0
        return 1
    c = 0
    if nk == 0:
        J = int(radius / h)
        if 2 * J + 1 > xs.shape[0]:
            J = (xs.shape[0] - 1) // 2
            h = radius / J
            flags[_STATUS_DEGRADED] += 1
        for j in range(-J, J + 1):
            u = j * h
            xs[c] = u
            ws[c] = h * math.exp(-0.5 * u * u) * _INV_SQRT2PI
            c += 1
        return c
    gx = _GLA_X if grade == 0 else _GLB_X
    gw = _GLA_W if grade == 0 else _GLB_W
    span = _GLA_SPAN if grade == 0 else _GLB_SPAN
    lo = -radius
    for k in range(nk + 1):
        hi = radius
        if k < nk:
            hi = (kinks[k] - shift) / lii
            if hi > radius:
                hi = radius
        if hi > lo:
            nsub = int(math.ceil((hi - lo) / span))
            step = (hi - lo) / nsub
            for q in range(nsub):
                half = 0.5 * step
                mid = lo + q * step + half
                for g in range(gx.shape[0]):
                    u = mid + half * gx[g]
                    xs[c] = u
                    ws[c] = half * gw[g] * math.exp(-0.5 * u * u) * _INV_SQRT2PI
                    c += 1
            lo = hi
    return c


@numba.njit(cache=True)
def _inner(fid, shift, s, radius, h, grade, xs, ws, flags):
    """E[f(shift + s u)] over the last level u ~ N(0, 1) (closed smoothing when available)."""
    if s <= 1e-300 or s <= 1e-13 * abs(shift):
        return _factor(fid, shift)
    if _HAS_SMOOTH[fid]:
        return _smooth(fid, shift, s)
    n = _level_nodes(fid, shift, s, h, radius, grade, xs, ws, flags)
    acc = 0.0
    for j in range(n):
        acc += ws[j] * _factor(fid, shift + s * xs[j])
    return acc


@numba.njit(cache=True)
def _nested(m, f, L, tol, grade, flags):
    """< prod_i f[i](z_i) > for z = L u, one or two samples (m <= 2; three and four
    samples: _shared_nested)."""
    R = _radius(tol)
    hz = np.empty(4)
    for i in range(m):
        hz[i] = _HZ[f[i]]
    h = _level_steps(m, L, hz, tol)
    xs = np.empty((2, _MAXN))
    ws = np.empty((2, _MAXN))
    if m == 1:
        return _inner(f[0], 0.0, L[0, 0], R, h[0], grade, xs[0], ws[0], flags)
    total = 0.0
    n0 = _level_nodes(f[0], 0.0, L[0, 0], h[0], R, grade, xs[0], ws[0], flags)
    for i0 in range(n0):
        u0 = xs[0, i0]
        p0 = ws[0, i0] * _factor(f[0], L[0, 0] * u0)
        if p0 == 0.0:
            continue
        r0 = R * R - u0 * u0
        R1 = math.sqrt(r0) if r0 > 0.0 else 0.0
        total += p0 * _inner(f[1], L[1, 0] * u0, L[1, 1], R1, h[1], grade, xs[1], ws[1], flags)
    return total


#: Reciprocal denominators of the six-point Lagrange basis on the nodes 0..5: 1/prod_{j != k} (k - j).
_LAGRANGE6 = (-1.0 / 120.0, 1.0 / 24.0, -1.0 / 12.0, 1.0 / 12.0, -1.0 / 24.0, 1.0 / 120.0)


@numba.njit(cache=True)
def _interp6_rows(table, lo, delta, x, nm, out):
    """out[j] = six-point Lagrange interpolation of the column table[:, j] (grid lo + t*delta)
    at x, j < nm: one set of weights for all columns (products, no divisions)."""
    p = (x - lo) / delta
    i = int(math.floor(p)) - 2
    if i < 0:
        i = 0
    if i > table.shape[0] - 6:
        i = table.shape[0] - 6
    t = p - i
    d0 = t
    d1 = t - 1.0
    d2 = t - 2.0
    d3 = t - 3.0
    d4 = t - 4.0
    d5 = t - 5.0
    p01 = d0 * d1
    p45 = d4 * d5
    p012 = p01 * d2
    p345 = d3 * p45
    w0 = d1 * d2 * p345 * _LAGRANGE6[0]
    w1 = d0 * d2 * p345 * _LAGRANGE6[1]
    w2 = p01 * p345 * _LAGRANGE6[2]
    w3 = p012 * p45 * _LAGRANGE6[3]
    w4 = p012 * d3 * d5 * _LAGRANGE6[4]
    w5 = p012 * d3 * d4 * _LAGRANGE6[5]
    for j in range(nm):
        out[j] = (w0 * table[i, j] + w1 * table[i + 1, j] + w2 * table[i + 2, j]
                  + w3 * table[i + 3, j] + w4 * table[i + 4, j] + w5 * table[i + 5, j])


@numba.njit(cache=True)
def _shared_last(shape, i, shift, s, radius, h, grade, xs, ws, vals, out, flags):
    """out[j] = E[f_j(shift + s u)], u ~ N(0, 1), for the monomials f_j of sample i of the
    shape: closed smoothings when every one has one, else one set of nodes for all."""
    nm = _SH_NMONO[shape, i]
    if s <= 1e-300 or s <= 1e-13 * abs(shift):
        _monomials(shape, i, shift, out)
        return
    if _SH_SMOOTH[shape, i]:
        for j in range(nm):
            out[j] = _smooth(_SH_MONO[shape, i, j], shift, s)
        return
    n = _level_nodes_at(_SH_KINKS[shape, i], _SH_NKINKS[shape, i], shift, s, h, radius, grade, xs, ws, flags)
    _node_sum(shape, i, shift, s, n, xs, ws, vals, out)


@numba.njit(cache=True)
def _node_sum(shape, i, shift, s, n, xs, ws, vals, out):
    """out[j] = sum_k ws[k] f_j(shift + s xs[k]) over the n nodes, for the monomials f_j of
    sample i of the shape (one _monomials call per node)."""
    nm = _SH_NMONO[shape, i]
    for j in range(nm):
        out[j] = 0.0
    for k in range(n):
        _monomials(shape, i, shift + s * xs[k], vals)
        w = ws[k]
        for j in range(nm):
            out[j] += w * vals[j]


@numba.njit(cache=True)
def _all_zero(vals, nm):
    for j in range(nm):
        if vals[j] != 0.0:
            return False
    return True


@numba.njit(cache=True)
def _shared_nested(shape, L, tol, grade, flags, sums):
    """sums[g] = < prod_i f_{g,i}(z_i) >, z = L u, for every signature g of the shape (the
    monomial _SH_SIG[shape, g, i] of each sample i): the nested rule of _nested with every
    level's nodes shared by all signatures (steps from _SH_HZ, break points _SH_KINKS, the
    last sample tabulated once for all its monomials).  The innermost two levels are summed
    into the dense products acc[j, k] of their monomials, which the signatures then read
    (no per-node gathers)."""
    m = _SH_M[shape]
    nsig = _SH_NSIG[shape]
    sig = _SH_SIG[shape]
    R = _radius(tol)
    h = _level_steps(m, L, _SH_HZ[shape], tol)
    xs = np.empty((4, _MAXN))
    ws = np.empty((4, _MAXN))
    v0 = np.empty(_SH_WIDTH)
    v1 = np.empty(_SH_WIDTH)
    v2 = np.empty(_SH_WIDTH)
    v3 = np.empty(_SH_WIDTH)
    tin = np.empty(_SH_WIDTH)
    acc = np.empty((_SH_WIDTH, _SH_WIDTH))
    for g in range(nsig):
        sums[g] = 0.0
    if m == 1:
        _shared_last(shape, np.int64(0), 0.0, L[0, 0], R, h[0], grade, xs[0], ws[0], v3, tin, flags)
        for g in range(nsig):
            sums[g] = tin[sig[g, 0]]
        return
    last = m - 1
    nml = _SH_NMONO[shape, last]
    sl = L[last, last]
    span = 0.0
    for j in range(last):
        span += abs(L[last, j])
    span *= R
    delta = _hz_step(_SH_HZ[shape, last], tol) / 16.0
    use_table = (m >= 3 and _SH_NKINKS[shape, last] == 0 and not _SH_SMOOTH[shape, last]
                 and sl > 1e-300 and span > 0.0 and 2.0 * span / delta < 200000.0)
    lo = -span - 3.0 * delta
    table = np.empty((int(2.0 * span / delta) + 7 if use_table else 1, _SH_WIDTH))
    if use_table:
        # smooth last sample: the same nodes for every grid point (no break points to follow)
        nl = _level_nodes_at(_SH_KINKS[shape, last], np.int64(0), 0.0, sl, h[last], R, grade, xs[3], ws[3], flags)
        for t in range(table.shape[0]):
            shift = lo + t * delta
            if sl <= 1e-13 * abs(shift):
                _monomials(shape, last, shift, table[t])
            else:
                _node_sum(shape, last, shift, sl, nl, xs[3], ws[3], v3, table[t])
    nm0 = _SH_NMONO[shape, 0]
    nm1 = _SH_NMONO[shape, 1]
    nm2 = _SH_NMONO[shape, 2] if m > 2 else np.int64(0)
    n0 = _level_nodes_at(_SH_KINKS[shape, 0], _SH_NKINKS[shape, 0], 0.0, L[0, 0], h[0], R, grade, xs[0], ws[0],
                         flags)
    for i0 in range(n0):
        u0 = xs[0, i0]
        w0 = ws[0, i0]
        _monomials(shape, np.int64(0), L[0, 0] * u0, v0)
        if w0 == 0.0 or _all_zero(v0, nm0):
            continue
        r0 = R * R - u0 * u0
        R1 = math.sqrt(r0) if r0 > 0.0 else 0.0
        m1 = L[1, 0] * u0
        if m == 2:
            _shared_last(shape, np.int64(1), m1, L[1, 1], R1, h[1], grade, xs[1], ws[1], v3, tin, flags)
            for g in range(nsig):
                sums[g] += w0 * v0[sig[g, 0]] * tin[sig[g, 1]]
            continue
        n1 = _level_nodes_at(_SH_KINKS[shape, 1], _SH_NKINKS[shape, 1], m1, L[1, 1], h[1], R1, grade, xs[1],
                             ws[1], flags)
        if m == 3:
            for j in range(nm1):
                for k in range(nml):
                    acc[j, k] = 0.0
        for i1 in range(n1):
            u1 = xs[1, i1]
            w1 = ws[1, i1]
            _monomials(shape, np.int64(1), m1 + L[1, 1] * u1, v1)
            if w1 == 0.0 or _all_zero(v1, nm1):
                continue
            r1 = r0 - u1 * u1
            R2 = math.sqrt(r1) if r1 > 0.0 else 0.0
            m2 = L[2, 0] * u0 + L[2, 1] * u1
            if m == 3:
                if use_table:
                    _interp6_rows(table, lo, delta, m2, nml, tin)
                else:
                    _shared_last(shape, np.int64(2), m2, L[2, 2], R2, h[2], grade, xs[2], ws[2], v3, tin,
                                 flags)
                for j in range(nm1):
                    c = w1 * v1[j]
                    for k in range(nml):
                        acc[j, k] += c * tin[k]
                continue
            for j in range(nm2):
                for k in range(nml):
                    acc[j, k] = 0.0
            n2 = _level_nodes_at(_SH_KINKS[shape, 2], _SH_NKINKS[shape, 2], m2, L[2, 2], h[2], R2, grade,
                                 xs[2], ws[2], flags)
            for i2 in range(n2):
                u2 = xs[2, i2]
                w2 = ws[2, i2]
                _monomials(shape, np.int64(2), m2 + L[2, 2] * u2, v2)
                if w2 == 0.0 or _all_zero(v2, nm2):
                    continue
                r2 = r1 - u2 * u2
                R3 = math.sqrt(r2) if r2 > 0.0 else 0.0
                m3 = L[3, 0] * u0 + L[3, 1] * u1 + L[3, 2] * u2
                if use_table:
                    _interp6_rows(table, lo, delta, m3, nml, tin)
                else:
                    _shared_last(shape, np.int64(3), m3, L[3, 3], R3, h[3], grade, xs[3], ws[3], v3, tin,
                                 flags)
                for j in range(nm2):
                    c = w2 * v2[j]
                    for k in range(nml):
                        acc[j, k] += c * tin[k]
            w01 = w0 * w1
            for g in range(nsig):
                sums[g] += w01 * v0[sig[g, 0]] * v1[sig[g, 1]] * acc[sig[g, 2], sig[g, 3]]
        if m == 3:
            for g in range(nsig):
                sums[g] += w0 * v0[sig[g, 0]] * acc[sig[g, 1], sig[g, 2]]


#: Block Hermite series of a three- or four-sample expectation (_block_sums): tables up to
#: this total order, used where the two blocks' canonical correlation is at most _BLOCK_RHO,
#: truncated when the tail bound is below _TOL_BLOCK * sqrt(E[F_A^2] E[F_B^2]) (>= E|F_A F_B|);
#: table quadrature: trapezoid in whitened coordinates, |w| <= _BLOCK_RADIUS (normalised
#: Hermite functions decay like exp(-w^2/4)), step at most _BLOCK_STEP (the order-40
#: Hermite functions alias beyond it).
_BLOCK_ORDER = 40
_BLOCK_RHO = 0.85
_TOL_BLOCK = 1e-11
_BLOCK_RADIUS = 10.0
_BLOCK_STEP = 0.35
_TOL_TABLE = 1e-13
_BLOCK_MAX_NODES = 301


@numba.njit(cache=True)
def _block_level(lii, hz, xs, ws, E):
    """Trapezoid nodes xs, weights ws (normal density included) and Hermite rows
    E[k, j] = He_j(xs[k]) of one whitened level whose factors have the calibrated z-step hz
    and coefficient lii; one node at 0 (E row 1, 0, 0, ...) for a zero pivot.  Returns the
    node count."""
    order = E.shape[1] - 1
    if lii <= 0.0:
        xs[0] = 0.0
        ws[0] = 1.0
        E[0, 0] = 1.0
        for j in range(1, order + 1):
            E[0, j] = 0.0
        return 1
    h = _BLOCK_STEP
    step = _hz_step(hz, _TOL_TABLE) / lii
    if step < h:
        h = step
    J = int(_BLOCK_RADIUS / h) + 1
    if 2 * J + 1 > xs.shape[0]:
        J = (xs.shape[0] - 1) // 2
    for k in range(2 * J + 1):
        x = (k - J) * h
        xs[k] = x
        ws[k] = h * math.exp(-0.5 * x * x) * _INV_SQRT2PI
        E[k, 0] = 1.0
        E[k, 1] = x
        for j in range(1, order):
            E[k, j + 1] = x * E[k, j] - j * E[k, j - 1]
    return 2 * J + 1


@numba.njit(cache=True)
def _hz_of(fids, nf):
    """The finest calibrated z-step among the factors fids[:nf]."""
    hz = 1e300
    for i in range(nf):
        if _HZ[fids[i]] < hz:
            hz = _HZ[fids[i]]
    return hz


@numba.njit(cache=True)
def _factors_at(fid, zs, n, out):
    """out[k] = factor fid at zs[k], k < n (one call site of _factor for all the tables)."""
    for k in range(n):
        out[k] = _factor(fid, zs[k])


@numba.njit(cache=True)
def _block_nodes(K, hz):
    """Trapezoid nodes per whitened level of _block_tables at the largest K_aa (the levels'
    coefficients are at most sqrt(max K_aa))."""
    kmax = 0.0
    for a in range(K.shape[0]):
        if K[a, a] > kmax:
            kmax = K[a, a]
    h = _BLOCK_STEP
    if kmax > 0.0:
        step = _hz_step(hz, _TOL_TABLE) / math.sqrt(kmax)
        if step < h:
            h = step
    return 2 * (int(_BLOCK_RADIUS / h) + 1) + 1


@numba.njit(cache=True)
def _block_tables(K, c2, c1):
    """Hermite tables of the blocks of _block_sums, for every pair a < b and pair of factors
    c2[c] = (f, g):  T2[c, a, b, i, j] = E[f(z_a) g(z_b) He_i(w_1) He_j(w_2)] with
    (z_a, z_b) = L (w_1, w_2) the Cholesky coordinates of K[(a, b), (a, b)] (L2[a, b] =
    l11, l21, l22), S2[c, a, b] = E[(f(z_a) g(z_b))^2]; for every sample and factor c1[c]:
    T1[c, a, i] = E[f(z_a) He_i(w)], z_a = sqrt(K_aa) w, S1[c, a] = E[f(z_a)^2].  Empty
    tables (the rule is off for the layer) when a level would need more than
    _BLOCK_MAX_NODES nodes (large K_aa: the series would not converge either)."""
    n = K.shape[0]
    order = _BLOCK_ORDER
    hz = min(_hz_of(c2.ravel(), c2.size), _hz_of(c1, c1.shape[0]))
    size = _block_nodes(K, hz)
    nc2 = c2.shape[0]
    nc1 = c1.shape[0]
    if size > _BLOCK_MAX_NODES or n < 3:
        nc2 = 0
        nc1 = 0
    T2 = np.zeros((nc2, n, n, order + 1, order + 1))
    S2 = np.zeros((nc2, n, n))
    L2 = np.zeros((n, n, 3))
    T1 = np.zeros((nc1, n, order + 1))
    S1 = np.zeros((nc1, n))
    if nc2 == 0 and nc1 == 0:
        return T2, S2, L2, T1, S1
    for a in range(n):
        x1 = np.empty(size)
        w1 = np.empty(size)
        E1 = np.empty((size, order + 1))
        x2 = np.empty(size)
        w2 = np.empty(size)
        E2 = np.empty((size, order + 1))
        zs = np.empty(size)
        fv = np.empty(size)
        fa1 = np.empty(size)
        if nc1 > 0:
            la = math.sqrt(K[a, a]) if K[a, a] > 0.0 else 0.0
            q = _block_level(la, hz, x1, w1, E1)
            for c in range(nc1):
                sq = 0.0
                for k in range(q):
                    zs[k] = la * x1[k]
                _factors_at(c1[c], zs, q, fv)
                for k in range(q):
                    v = w1[k] * fv[k]
                    sq += v * fv[k]
                    for i in range(order + 1):
                        T1[c, a, i] += v * E1[k, i]
                S1[c, a] = sq
        C = np.empty((2, 2))
        for b in range(a + 1, n if nc2 > 0 else 0):
            C[0, 0] = K[a, a]
            C[0, 1] = K[a, b]
            C[1, 0] = K[a, b]
            C[1, 1] = K[b, b]
            L = _chol(C, np.int64(2))
            L2[a, b, 0] = L[0, 0]
            L2[a, b, 1] = L[1, 0]
            L2[a, b, 2] = L[1, 1]
            q1 = _block_level(max(L[0, 0], abs(L[1, 0])), hz, x1, w1, E1)
            q2 = _block_level(L[1, 1], hz, x2, w2, E2)
            G = np.empty(order + 1)
            for c in range(nc2):
                sq = 0.0
                T = T2[c, a, b]
                for i in range(q1):
                    zs[i] = L[0, 0] * x1[i]
                _factors_at(c2[c, 0], zs, q1, fa1)
                for i in range(q1):
                    fa = w1[i] * fa1[i]
                    za = L[1, 0] * x1[i]
                    for j in range(q2):
                        zs[j] = za + L[1, 1] * x2[j]
                    _factors_at(c2[c, 1], zs, q2, fv)
                    G[:] = 0.0
                    for j in range(q2):
                        v = fa * w2[j] * fv[j]
                        if v != 0.0:
                            sq += v * v / (w1[i] * w2[j])
                            for k in range(order + 1):
                                G[k] += v * E2[j, k]
                    for k in range(order + 1):
                        e = E1[i, k]
                        for l in range(order + 1):
                            T[k, l] += e * G[l]
                S2[c, a, b] = sq
    return T2, S2, L2, T1, S1


@numba.njit(cache=True)
def _block_R(L2, K, a, b, c, d):
    """R = L_A^-1 K[(a, b), (c, d)] L_B^-T for the blocks (a, b), (c, d) (a < b, c < d): the
    correlations of their whitened coordinates (rows/columns of zero pivots are 0); returns
    R (2 x 2) and its largest singular value (the blocks' canonical correlation)."""
    R = np.zeros((2, 2))
    X = np.zeros((2, 2))
    la0 = L2[a, b, 0]
    la1 = L2[a, b, 1]
    la2 = L2[a, b, 2]
    lb0 = L2[c, d, 0]
    lb1 = L2[c, d, 1]
    lb2 = L2[c, d, 2]
    for j in range(2):
        t = c if j == 0 else d
        x0 = K[a, t] / la0 if la0 > 0.0 else 0.0
        X[0, j] = x0
        X[1, j] = (K[b, t] - la1 * x0) / la2 if la2 > 0.0 else 0.0
    for i in range(2):
        r0 = X[i, 0] / lb0 if lb0 > 0.0 else 0.0
        R[i, 0] = r0
        R[i, 1] = (X[i, 1] - lb1 * r0) / lb2 if lb2 > 0.0 else 0.0
    t = R[0, 0] ** 2 + R[0, 1] ** 2 + R[1, 0] ** 2 + R[1, 1] ** 2
    det = R[0, 0] * R[1, 1] - R[0, 1] * R[1, 0]
    disc = t * t - 4.0 * det * det
    rho = math.sqrt(0.5 * (t + math.sqrt(disc if disc > 0.0 else 0.0)))
    return R, rho


@numba.njit(cache=True)
def _block_powers(R, nr, out):
    """out[i, k] = R_i^k / k! for the nr entries R_i (flattened) and k <= _BLOCK_ORDER."""
    for i in range(nr):
        p = 1.0
        out[i, 0] = 1.0
        for k in range(1, _BLOCK_ORDER + 1):
            p *= R[i] / k
            out[i, k] = p
    return out


@numba.njit(cache=True)
def _block_series(HA, HB, P, rho, tolabs, double):
    """The block Hermite (Mehler) series of E[F_A F_B]:
        sum_n  prod_ij R_ij^n_ij / n_ij!  E[F_A He_alpha(w_A)] E[F_B He_beta(w_B)],
    alpha_i = sum_j n_ij, beta_j = sum_i n_ij, summed by total order s with the tail after s
    bounded by (|shell s| + |shell s-1|) rho / (1 - rho); double: block A is one sample (HA[i,
    0] its table, R one row).  Returns (value, converged)."""
    total = 0.0
    prev = 0.0
    ratio = rho / (1.0 - rho)
    for s in range(_BLOCK_ORDER + 1):
        sh = 0.0
        if double:
            for n0 in range(s + 1):
                sh += P[0, n0] * P[1, s - n0] * HA[s, 0] * HB[n0, s - n0]
        else:
            for n00 in range(s + 1):
                for n01 in range(s + 1 - n00):
                    p0 = P[0, n00] * P[1, n01]
                    a0 = n00 + n01
                    for n10 in range(s + 1 - a0):
                        n11 = s - a0 - n10
                        sh += p0 * P[2, n10] * P[3, n11] * HA[a0, n10 + n11] * HB[n00 + n10, n01 + n11]
        total += sh
        if s >= 3 and (abs(sh) + abs(prev)) * ratio <= tolabs:
            return total, True
        prev = sh
    return total, False


#: The three ways to split four distinct samples (positions) into two pairs.
_SPLITS = np.array([[0, 1, 2, 3], [0, 2, 1, 3], [0, 3, 1, 2]], dtype=np.int64)


@numba.njit(cache=True)
def _block_sums(shape, s, K, T2, S2, L2, T1, S1, sums):
    """sums[g] = < prod_i f_{g,i}(z_{s_i}) > for every signature g of a three- or
    four-sample shape by the block Hermite series: the samples split into two blocks that
    share none (four distinct samples: the pairing with the smallest canonical correlation;
    three: the doubled sample alone), each block's factors integrated against Hermite
    polynomials of its whitened coordinates once per layer (_block_tables), the blocks
    coupled by the series in their cross-correlations R (_block_series; PDLT-style Wick
    expansion in the off-diagonal block of the covariance).  Returns False (sums undefined)
    where the split's canonical correlation exceeds _BLOCK_RHO or a series does not
    converge by _BLOCK_ORDER: the caller falls back to _shared_nested."""
    if T2.shape[0] == 0:
        return False
    m = _SH_M[shape]
    P = np.empty((4, _BLOCK_ORDER + 1))
    Rf = np.empty(4)
    if m == 4:
        best = 0
        bestrho = 2.0
        for k in range(3):
            sp = _SPLITS[k]
            R, rho = _block_R(L2, K, s[sp[0]], s[sp[1]], s[sp[2]], s[sp[3]])
            if rho < bestrho:
                bestrho = rho
                best = k
        if bestrho > _BLOCK_RHO:
            return False
        sp = _SPLITS[best]
        R, rho = _block_R(L2, K, s[sp[0]], s[sp[1]], s[sp[2]], s[sp[3]])
        Rf[0] = R[0, 0]
        Rf[1] = R[0, 1]
        Rf[2] = R[1, 0]
        Rf[3] = R[1, 1]
        _block_powers(Rf, np.int64(4), P)
        for g in range(_SH_NSIG[shape]):
            ca = _BK_C2[shape, g, sp[0], sp[1]]
            cb = _BK_C2[shape, g, sp[2], sp[3]]
            a = s[sp[0]]
            b = s[sp[1]]
            c = s[sp[2]]
            d = s[sp[3]]
            tolabs = _TOL_BLOCK * math.sqrt(S2[ca, a, b] * S2[cb, c, d])
            v, ok = _block_series(T2[ca, a, b], T2[cb, c, d], P, rho, tolabs, False)
            if not ok:
                return False
            sums[g] = v
        return True
    # three samples: the doubled one (position u) alone against the other two (p < q)
    u = _BK_DOUBLE[shape]
    p = 1 if u == 0 else 0
    q = 1 if u == 2 else 2
    t = s[u]
    a = s[p]
    b = s[q]
    lt = math.sqrt(K[t, t]) if K[t, t] > 0.0 else 0.0
    x0 = K[t, a] / lt if lt > 0.0 else 0.0
    x1 = K[t, b] / lt if lt > 0.0 else 0.0
    r0 = x0 / L2[a, b, 0] if L2[a, b, 0] > 0.0 else 0.0
    r1 = (x1 - L2[a, b, 1] * r0) / L2[a, b, 2] if L2[a, b, 2] > 0.0 else 0.0
    rho = math.sqrt(r0 * r0 + r1 * r1)
    if rho > _BLOCK_RHO:
        return False
    Rf[0] = r0
    Rf[1] = r1
    _block_powers(Rf, np.int64(2), P)
    HA = np.zeros((_BLOCK_ORDER + 1, 1))
    for g in range(_SH_NSIG[shape]):
        ca = _BK_C1[shape, g]
        cb = _BK_C2[shape, g, p, q]
        HA[:, 0] = T1[ca, t]
        tolabs = _TOL_BLOCK * math.sqrt(S1[ca, t] * S2[cb, a, b])
        v, ok = _block_series(HA, T2[cb, a, b], P, rho, tolabs, True)
        if not ok:
            return False
        sums[g] = v
    return True


@numba.njit(cache=True)
def _expect_1d(fid, k11, flags):
    """< f(z) > with z ~ N(0, k11) to _TOL_1D."""
    f = np.empty(1, dtype=np.int64)
    f[0] = fid
    L = np.zeros((4, 4))
    L[0, 0] = math.sqrt(k11) if k11 > 0.0 else 0.0
    return _nested(np.int64(1), f, L, _TOL_1D, np.int64(0), flags)


@numba.njit(cache=True)
def _expect_pair_nested(fa, fb, k11, k12, k22, flags):
    """< f_a(z_1) f_b(z_2) > by the nested rule to _TOL_2D."""
    f = np.empty(2, dtype=np.int64)
    f[0] = fa
    f[1] = fb
    C = np.empty((2, 2))
    C[0, 0] = k11
    C[0, 1] = k12
    C[1, 0] = k12
    C[1, 1] = k22
    m = np.int64(2)
    return _nested(m, f, _chol(C, m), _TOL_2D, np.int64(1), flags)


@numba.njit(cache=True)
def _mehler_tables(fids, kd, flags):
    """Hermite coefficients c[f, a, k] of f(sqrt(kd[a]) x), their tails and validity flags."""
    nf = fids.shape[0]
    n = kd.shape[0]
    kmax = 0.0
    for a in range(n):
        if kd[a] > kmax:
            kmax = kd[a]
    M = min(_MEHLER_MAX, _MEHLER_ORDER * max(1, int(math.ceil(kmax))))
    hx = 0.1
    if kmax > 0.0:
        for i in range(nf):
            hz = _zstep(fids[i], 1e-15) / math.sqrt(kmax)
            if hz < hx:
                hx = hz
    T = 2.0 * math.sqrt(M) + 8.0
    J = int(T / hx)
    valid_grid = True
    if J > 20000:
        J = 20000
        hx = T / J
        valid_grid = False
    Q = 2 * J + 1
    x = np.empty(Q)
    w = np.empty(Q)
    for j in range(Q):
        x[j] = (j - J) * hx
        w[j] = hx * math.exp(-0.5 * x[j] * x[j]) * _INV_SQRT2PI
    H = np.empty((Q, M + 1))
    for j in range(Q):
        H[j, 0] = w[j]
        H[j, 1] = x[j] * w[j]
    for k in range(1, M):
        a1 = 1.0 / math.sqrt(k + 1.0)
        a0 = math.sqrt(k / (k + 1.0))
        for j in range(Q):
            H[j, k + 1] = a1 * x[j] * H[j, k] - a0 * H[j, k - 1]
    coef = np.empty((nf, n, M + 1))
    tail = np.empty((nf, n, M + 1))
    energy = np.empty((nf, n))
    ok = np.empty((nf, n), dtype=np.bool_)
    F = np.empty((n, Q))
    for i in range(nf):
        for a in range(n):
            s = math.sqrt(kd[a]) if kd[a] > 0.0 else 0.0
            for j in range(Q):
                F[a, j] = _factor(fids[i], s * x[j])
        cf = np.dot(F, H)
        for a in range(n):
            e2 = 0.0
            for j in range(Q):
                e2 += w[j] * F[a, j] * F[a, j]
            acc = 0.0
            for k in range(M, -1, -1):
                tail[i, a, k] = acc
                acc += cf[a, k] * cf[a, k]
                coef[i, a, k] = cf[a, k]
            res = e2 - acc
            if res < 0.0:
                res = 0.0
            for k in range(M + 1):
                tail[i, a, k] += res
            energy[i, a] = e2
            ok[i, a] = valid_grid and res <= _TOL_MEHLER * e2 and math.isfinite(e2)
    return coef, tail, energy, ok


@numba.njit(cache=True)
def _mehler_value(coef, tail, energy, ok, i, a, j, b, rho):
    """< f_i(z_a) f_j(z_b) > from the tables (nan when the truncation bound fails)."""
    if not (ok[i, a] and ok[j, b]):
        return math.nan
    thr = _TOL_MEHLER * _TOL_MEHLER * energy[i, a] * energy[j, b]
    if thr == 0.0:
        return coef[i, a, 0] * coef[j, b, 0]
    r2 = rho * rho
    pw = 1.0
    pw2 = r2
    acc = 0.0
    for k in range(coef.shape[2]):
        acc += coef[i, a, k] * coef[j, b, k] * pw
        if pw2 * tail[i, a, k] * tail[j, b, k] <= thr:
            return acc
        pw *= rho
        pw2 *= r2
    return math.nan


@numba.njit(cache=True, parallel=True)
def _mirror_upper(A):
    """A[j, i] = A[i, j] for j > i, in 64 x 64 blocks (strided writes stay in cache)."""
    n = A.shape[0]
    nb = (n + 63) // 64
    for bi in numba.prange(nb):
        for bj in range(bi, nb):
            for i in range(bi * 64, min(n, bi * 64 + 64)):
                for j in range(max(i + 1, bj * 64), min(n, bj * 64 + 64)):
                    A[j, i] = A[i, j]


@numba.njit(cache=True)
def _positive_diagonal(K):
    """Whether every K[a, a] > 0 (false for nan)."""
    for a in range(K.shape[0]):
        if not K[a, a] > 0.0:
            return False
    return True


@numba.njit(cache=True)
def _multisets(n):
    """All (i, j, k, l) with 0 <= i <= j <= k <= l < n, lexicographic."""
    count = n * (n + 1) * (n + 2) * (n + 3) // 24
    T = np.empty((count, 4), dtype=np.int64)
    q = 0
    for i in range(n):
        for j in range(i, n):
            for k in range(j, n):
                for l in range(k, n):
                    T[q, 0] = i
                    T[q, 1] = j
                    T[q, 2] = k
                    T[q, 3] = l
                    q += 1
    return T


@numba.njit(cache=True)
def _correlation(k11, k12, k22):
    if k11 <= 0.0 or k22 <= 0.0:
        return 0.0
    return _clip1(k12 / math.sqrt(k11 * k22))
