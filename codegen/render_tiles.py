"""Stage *render*, layer-fused tiles: the kernels that evaluate pair-closed flows tile by tile.

When every state of a flow is a symmetric pair tensor whose rule for entry (a, b) reads
only entries (a, b) and per-sample values of a and b (K, H: :func:`codegen.render.triangular_layers`),
entry (a, b) of layer ℓ + 1 depends on nothing but entry (a, b) of layer ℓ and the
diagonals.  So after a *diagonal pass* — the N_D diagonal entries of every state, the
per-sample pieces of the closed pair forms and the Mehler tables, for all L layers,
O(N_D L) — any rectangle of pairs can run all L layers on its own, with its states in a
row-segment buffer that stays in cache, and write each output entry once
(``keep="last"``).  Rectangles are independent: the in-memory run, the out-of-core
writer and the Dask graph (``codegen.tiles``) all call the same ``_tile``.

Generated functions (added to a module only for such flows):

``_initial_entry(g, C_b, C_W, lambda_b, lambda_W)``
    the states' layer-1 values for one Gram entry g = x_a·x_b/n_0 (declared initial conditions);
``_diagonal_step(sd, da, l, flags, params...)``
    per-sample atoms of layer l (index l: layer l + 1) and the diagonal of layer l + 1;
``_pieces(kd, pr, pc)``
    the per-sample pieces of the closed pair forms (``_closed_ab_row``/``_col``);
``_tile(X, XT, i0, i1, j0, j1, ...)``
    the pairs a < b of rows [i0, i1) x columns [j0, j1) through all layers, stored at
    (a, b) and at (b, a) wherever those fall inside the output block;
``run_tiles(...)`` (``_tiles`` on threads, or its serial twin) and ``diagonal_pass(...)``
    the plain-Python entry points.
"""

from __future__ import annotations

import sympy as sp

from derive.recursions import sample_indices

from .lower import Closed, KernelPlan, Mehler, Nested, Quadrature1D

__all__ = ["tile_functions", "TILE_ROOTS"]

#: Entry points the tiled path adds to a module's roots (``codegen.render.used_definitions``).
TILE_ROOTS = ("diagonal_pass", "run_tiles")


def _state_names(plan: KernelPlan) -> list[str]:
    return [s.name for s in plan.states]


def _params_at(index: str) -> list[str]:
    return [f"    C_b = C_b_all[{index}]", f"    C_W = C_W_all[{index}]",
            f"    lambda_b = lambda_b_all[{index}]", f"    lambda_W = lambda_W_all[{index}]",
            f"    r = r_all[{index}]"]


def _rule_exprs(plan: KernelPlan, pair: bool):
    """The states' rules with every tensor read replaced by a scalar symbol: ``p_<x>`` for
    entry (a1, a2) (``d_<x>`` on the diagonal, ``pair`` False), ``da_<x>``/``db_<x>`` for a
    per-sample tensor at a1/a2 (both ``d_<x>`` on the diagonal)."""
    a1, a2 = sample_indices[:2]
    exprs, reads = [], set()
    for s in plan.states:
        rhs = s.rules[0].rhs
        subs = {}
        for x in rhs.atoms(sp.Indexed):
            base = str(x.base)
            if x.indices == (a1, a2):
                name = f"p_{base}" if pair else f"d_{base}"
            elif x.indices == (a1,):
                name = f"da_{base}" if pair else f"d_{base}"
            elif x.indices == (a2,):
                name = f"db_{base}" if pair else f"d_{base}"
            else:   # pragma: no cover - excluded by triangular_layers
                raise ValueError(f"{s.name}: a tiled rule reads {x}")
            subs[x] = sp.Symbol(name)
            reads.add((base, name))
        exprs.append(rhs.xreplace(subs))
    return exprs, sorted(reads)


def _initial_entry(plan: KernelPlan, cse_block) -> list[str]:
    a1, a2 = sample_indices[:2]
    gram = sp.IndexedBase("gram")
    g = sp.Symbol("g")
    exprs = [s.initial.xreplace({gram[a1, a2]: g}) for s in plan.states]
    body, values = cse_block(exprs, "    ")
    return (["@numba.njit(cache=True)", "def _initial_entry(g, C_b, C_W, lambda_b, lambda_W):",
             '    """Layer-1 value of every state (STATES order) for the Gram entry g = x_a.x_b/n_0."""']
            + body + [f"    return ({', '.join(values)},)", "", ""])


def _diagonal_step(plan: KernelPlan, cse_block, bad) -> list[str]:
    """``_diagonal_step``: the diagonal atoms of layer l (also kept in ``da`` for the
    tiles' per-sample reads) and the diagonal of every state at layer l + 1."""
    states = _state_names(plan)
    L = ["@numba.njit(cache=True)",
         "def _diagonal_step(sd, da, l, flags, C_b_all, C_W_all, lambda_b_all, lambda_W_all, r_all):",
         '    """Diagonal atoms of layer l (index l is layer l + 1) into da[l], and the diagonal of',
         "    every state at layer l + 2 into sd[:, l + 1] from its rule at a1 = a2.  Returns the",
         '    number of bad new entries per state (as _step counts them)."""',
         "    n = sd.shape[2]"]
    L += _params_at("l + 1")
    L += [f"    bad_{s} = 0" for s in states]
    L += ["    for a in range(n):", "        kd = sd[0, l, a]"]
    closed_diag = any(isinstance(a.diag, Closed) for a in plan.atoms)
    if closed_diag:
        L.append("        bd = _closed_a(kd)")
    for k, a in enumerate(plan.atoms):
        if isinstance(a.diag, Closed):
            L.append(f"        d_{a.name} = bd[{a.diag.slot}]")
        elif isinstance(a.diag, Quadrature1D):
            L.append(f"        d_{a.name} = _expect_1d(np.int64({a.diag.factor}), kd, flags)")
        else:
            L.append(f"        d_{a.name} = math.nan")
        L.append(f"        da[l, {k}, a] = d_{a.name}")
    for k, s in enumerate(plan.states):
        L.append(f"        d_{s.name} = sd[{k}, l, a]")
    exprs, _ = _rule_exprs(plan, pair=False)
    body, values = cse_block(exprs, "        ")
    L += body
    for k, (s, v) in enumerate(zip(plan.states, values)):
        L += [f"        v_{s.name} = {v}", f"        sd[{k}, l + 1, a] = v_{s.name}",
              f"        bad_{s.name} += {bad(s, f'v_{s.name}')}"]
    L.append(f"    return ({', '.join(f'bad_{s}' for s in states)},)")
    return L + ["", ""]


def _pieces(plan: KernelPlan) -> list[str]:
    row, col, _ = plan.closed_off_split
    L = ["@numba.njit(cache=True)", "def _pieces(kd, pr, pc):",
         '    """Per-sample pieces of the closed pair forms (rows of pr, pc) for the variances kd."""',
         "    for a in range(kd.shape[0]):"]
    if not (row or col):
        L.append("        pass")
    for name, arr, pieces in (("_closed_ab_row", "pr", row), ("_closed_ab_col", "pc", col)):
        if pieces:
            L.append(f"        v = {name}(kd[a])")
            L += [f"        {arr}[{i}, a] = v[{i}]" for i in range(len(pieces))]
    return L + ["", ""]


#: Rows of a tile computed together: their last layer is stored transposed GROUP entries
#: (one cache line) at a time instead of one strided entry per row.
GROUP = 8


def _pair_update(plan: KernelPlan, cse_block, bad, indent: str) -> list[str]:
    """One layer (index p -> l) of the row segment w_<state>[t], t < m, of row a: the pair
    atoms, then the update rules, counting bad entries."""
    states = _state_names(plan)
    row, col, _ = plan.closed_off_split
    closed_off = [a for a in plan.atoms if isinstance(a.off, Closed)]
    numeric_off = [a for a in plan.atoms if isinstance(a.off, (Mehler, Nested))]
    mehler_index = {fid: i for i, fid in enumerate(plan.mehler_fids)}
    i1, i2 = indent + "    ", indent + "        "
    body = [f"{indent}C_b = C_b_all[l]", f"{indent}C_W = C_W_all[l]",
            f"{indent}lambda_b = lambda_b_all[l]", f"{indent}lambda_W = lambda_W_all[l]",
            f"{indent}r = r_all[l]", f"{indent}p = l - 1", f"{indent}kda = sd[0, p, a]",
            f"{indent}kdb = sd[0, p, lo:j1]"]
    body += [f"{indent}r{i}a = pr[p, {i}, a]" for i in range(len(row))]
    body += [f"{indent}c{i}b = pc[p, {i}, lo:j1]" for i in range(len(col))]
    exprs, reads = _rule_exprs(plan, pair=True)
    atom_index = {a.name: k for k, a in enumerate(plan.atoms)}
    for base, name in reads:
        if name.startswith("da_"):
            body.append(f"{indent}{name} = da[p, {atom_index[base]}, a]")
        elif name.startswith("db_"):
            body.append(f"{indent}{name}_row = da[p, {atom_index[base]}, lo:j1]")
    body += [f"{indent}bad_{s} = 0" for s in states]
    body.append(f"{indent}for t in range(m):")
    inner = [f"{i1}p_{s} = w_{s}[t]" for s in states]
    if closed_off:
        args = (["kda", "p_K", "kdb[t]"] + [f"r{i}a" for i in range(len(row))]
                + [f"c{i}b[t]" for i in range(len(col))])
        inner.append(f"{i1}v = _closed_ab({', '.join(args)})")
        inner += [f"{i1}p_{a.name} = v[{a.off.slot}]" for a in closed_off]
    if numeric_off:
        inner.append(f"{i1}rho = _correlation(kda, p_K, kdb[t])")
        for a in numeric_off:
            fa, fb = a.off.factors
            nested = f"_expect_pair_nested(np.int64({fa}), np.int64({fb}), kda, p_K, kdb[t], flags)"
            if isinstance(a.off, Mehler):
                inner += [f"{i1}p_{a.name} = _mehler_value(coef[p], tail[p], energy[p], ok[p], "
                          f"np.int64({mehler_index[fa]}), a, np.int64({mehler_index[fb]}), lo + t, rho)",
                          f"{i1}if p_{a.name} != p_{a.name}:", f"{i2}p_{a.name} = {nested}"]
            else:
                inner.append(f"{i1}p_{a.name} = {nested}")
    inner += [f"{i1}{name} = {name}_row[t]" for _, name in reads if name.startswith("db_")]
    cse_lines, values = cse_block(exprs, i1)
    inner += cse_lines
    for s, v in zip(plan.states, values):
        inner += [f"{i1}v_{s.name} = {v}", f"{i1}w_{s.name}[t] = v_{s.name}",
                  f"{i1}bad_{s.name} += {bad(s, f'v_{s.name}')}"]
    body += inner
    for k, s in enumerate(states):
        body += [f"{indent}if bad_{s} and (bad[{k}] == 0 or bad[{k}] > l + 1):", f"{i1}bad[{k}] = l + 1"]
    return body


def _tile(plan: KernelPlan, cse_block, bad) -> list[str]:
    """``_tile``: every pair a < b of a rectangle through all layers (see the module doc)."""
    states = _state_names(plan)
    outs = [f"out_{s}" for s in states]
    L = ["@numba.njit(cache=True)",
         "def _tile(X, XT, i0, i1, j0, j1, sd, da, pr, pc, coef, tail, energy, ok,",
         "          C_b_all, C_W_all, lambda_b_all, lambda_W_all, r_all, "
         f"{', '.join(outs)}, oi, oj, keep_all, bad, flags):",
         '    """Pairs a < b with i0 <= a < i1, j0 <= b < j1, through all layers: the Gram entry',
         "    (summed over features in order, so its bits do not depend on the tile), the initial",
         "    states, then per layer the pair atoms and the update rules on the row segment",
         "    w = s[q, lo - j0:] held in cache.  Layer l + 1 (all layers, keep_all) or the last",
         "    layer is stored at out[k, a - oi, b - oj] and out[k, b - oi, a - oj] where those fall",
         "    inside the output block (the last layer's transposed entries GROUP rows at a time).",
         '    bad[s] becomes the first layer (1-based) where state s had a bad entry, if earlier."""',
         "    n0 = X.shape[1]",
         "    depth = C_b_all.shape[0]",
         "    ni = out_K.shape[1]",
         "    nj = out_K.shape[2]",
         "    width = max(j1 - j0, 1)",
         "    g = np.empty(width)"]
    L += [f"    s_{s} = np.empty(({GROUP}, width))" for s in states]
    L += ["    inv_n0 = 1.0 / n0",
          f"    for a0 in range(i0, i1, {GROUP}):",
          f"        nr = min({GROUP}, i1 - a0)",
          "        for q in range(nr):",
          "            a = a0 + q",
          "            lo = max(j0, a + 1)",
          "            m = j1 - lo",
          "            if m <= 0:",
          "                continue"]
    L += [f"            w_{s} = s_{s}[q, lo - j0:]" for s in states]
    L += ["            for t in range(m):",
          "                g[t] = 0.0",
          "            for k in range(n0):",
          "                xa = X[a, k]",
          "                xb = XT[k, lo:j1]",
          "                for t in range(m):",
          "                    g[t] += xa * xb[t]",
          "            for t in range(m):",
          "                v0 = _initial_entry(g[t] * inv_n0, C_b_all[0], C_W_all[0], lambda_b_all[0], "
          "lambda_W_all[0])"]
    L += [f"                w_{s}[t] = v0[{k}]" for k, s in enumerate(states)]
    L += ["            for l in range(depth):",
          "                if l > 0:"]
    L += _pair_update(plan, cse_block, bad, " " * 20)
    # --- stores: every layer (keep_all) at (a, b) and (b, a); else the last layer at (a, b) here
    L += ["                if keep_all or l == depth - 1:",
          "                    k = l if keep_all else 0",
          "                    ra = a - oi",
          "                    if 0 <= ra < ni:",
          "                        c0 = lo - oj",
          "                        for t in range(max(0, -c0), min(m, nj - c0)):"]
    L += [f"                            out_{s}[k, ra, c0 + t] = w_{s}[t]" for s in states]
    L += ["                if keep_all:",
          "                    ca = a - oj",
          "                    if 0 <= ca < nj:",
          "                        r0 = lo - oi",
          "                        for t in range(max(0, -r0), min(m, ni - r0)):"]
    L += [f"                            out_{s}[l, r0 + t, ca] = w_{s}[t]" for s in states]
    # --- the group's last layer at (b, a): GROUP consecutive entries of row b at a time
    L += ["        if not keep_all:",
          "            for c in range(j1 - j0):",
          "                b = j0 + c",
          "                rb = b - oi",
          "                if rb < 0 or rb >= ni:",
          "                    continue",
          "                for q in range(nr):",
          "                    a = a0 + q",
          "                    ca = a - oj",
          "                    if b > a and 0 <= ca < nj:"]
    L += [f"                        out_{s}[0, rb, ca] = s_{s}[q, c]" for s in states]
    return L + ["", ""]


def _tiles(plan: KernelPlan) -> list[str]:
    outs = ", ".join(f"out_{s}" for s in _state_names(plan))
    return ["@numba.njit(cache=True, parallel=True)",
            "def _tiles(X, XT, blocks, sd, da, pr, pc, coef, tail, energy, ok,",
            f"           C_b_all, C_W_all, lambda_b_all, lambda_W_all, r_all, {outs}, oi, oj, keep_all, bad, flags):",
            '    """_tile for every row (i0, i1, j0, j1) of blocks, on threads (bad: one row per block)."""',
            "    for q in numba.prange(blocks.shape[0]):",
            "        _tile(X, XT, blocks[q, 0], blocks[q, 1], blocks[q, 2], blocks[q, 3], sd, da, pr, pc, coef, tail,",
            "              energy, ok, C_b_all, C_W_all, lambda_b_all, lambda_W_all, r_all, "
            f"{outs}, oi, oj, keep_all, bad[q], flags)",
            "", ""]


def _diagonal_pass(plan: KernelPlan) -> list[str]:
    row, col, _ = plan.closed_off_split
    S = len(plan.states)
    L = ["def diagonal_pass(gd, params, flags):",
         '    """The diagonal of every state for all layers, and what the tiles read per sample.',
         "",
         "    gd: the Gram diagonal |x_a|^2/n_0; params as for run_layers.  Returns (status, layer,",
         "    diag) with status and layer as run_layers reports them and diag = (sd, da, pr, pc,",
         "    coef, tail, energy, ok): sd[s, l, a] state s (STATES order) at layer l + 1, da the",
         "    per-sample atoms, pr/pc the pieces of the closed pair forms, and the Mehler tables",
         "    per layer (padded with zero coefficients and infinite tails, which the series never",
         '    accepts).  Plain Python: it sequences O(N_D) kernels once per layer."""',
         "    C_b, C_W, lambda_b, lambda_W, r = params",
         "    depth = C_b.shape[0]",
         "    n = gd.shape[0]",
         f"    sd = np.empty(({S}, depth, n))",
         f"    da = np.full((depth, {max(len(plan.atoms), 1)}, n), np.nan)",
         f"    pr = np.empty((depth, {len(row)}, n))",
         f"    pc = np.empty((depth, {len(col)}, n))",
         "    init = _initial_diagonal(gd, C_b[0], C_W[0], lambda_b[0], lambda_W[0])",
         f"    for s in range({S}):",
         "        sd[s, 0] = init[s]",
         "    tables = []",
         "    status, where = 0, 0",
         "    for l in range(depth):",
         "        kd = sd[0, l]",
         "        if not np.all(np.abs(kd) <= 1e300):   # also false for nan",
         "            status, where = 1, l + 1",
         "            break",
         "        if not np.all(kd > 0.0):",
         "            status, where = 2, l + 1",
         "            break",
         "        if l == depth - 1:",
         "            break",
         "        _pieces(kd, pr[l], pc[l])"]
    if plan.mehler_fids:
        L.append("        tables.append(_mehler_tables(_MEHLER_FIDS, kd, flags))")
    L += ["        bad = _diagonal_step(sd, da, np.int64(l), flags, C_b, C_W, lambda_b, lambda_W, r)"]
    for k, s in enumerate(plan.states):
        code = 1 if s.bounded else s.status
        L += [f"        if bad[{k}]:", f"            status, where = {code}, l + 2", "            break"]
    L += ["        if status:", "            break"]
    nf = max(len(plan.mehler_fids), 1)
    L += ["    M = max([t[0].shape[2] for t in tables] + [1])",
          f"    coef = np.zeros((max(len(tables), 1), {nf}, n, M))",
          "    tail = np.full(coef.shape, np.inf)",
          f"    energy = np.zeros((coef.shape[0], {nf}, n))",
          "    ok = np.zeros(energy.shape, dtype=np.bool_)",
          "    for l, (c, t, e, o) in enumerate(tables):",
          "        coef[l, :, :, :c.shape[2]] = c",
          "        tail[l, :, :, :c.shape[2]] = t",
          "        energy[l] = e",
          "        ok[l] = o",
          "    return status, where, (sd, da, pr, pc, coef, tail, energy, ok)", "", ""]
    return L


def _initial_diagonal(plan: KernelPlan) -> list[str]:
    S = len(plan.states)
    return ["@numba.njit(cache=True)",
            "def _initial_diagonal(gd, C_b, C_W, lambda_b, lambda_W):",
            '    """_initial_entry for every Gram diagonal entry: array (states, N_D)."""',
            f"    out = np.empty(({S}, gd.shape[0]))",
            "    for a in range(gd.shape[0]):",
            "        v = _initial_entry(gd[a], C_b, C_W, lambda_b, lambda_W)",
            f"        for s in range({S}):",
            "            out[s, a] = v[s]",
            "    return out", "", ""]


def _run_tiles(plan: KernelPlan) -> list[str]:
    outs = ", ".join(f"out_{s}" for s in _state_names(plan))
    return ["def run_tiles(X, XT, blocks, diag, params, outs, origin, keep_all, flags, parallel=True):",
            '    """_tile for every row (i0, i1, j0, j1) of blocks (int64), into the output block outs',
            "    (one array (layers, rows, columns) per state, STATES order) whose entry [k, 0, 0] is",
            "    pair origin = (oi, oj).  X (N_D, n_0) and XT = X.T, both C-contiguous; diag and params",
            "    from diagonal_pass and run_layers.  Returns bad (blocks, states): per block the first",
            "    layer where a state had a bad entry (0: none).  Diagonal entries are diagonal_pass's",
            '    (the caller copies them).  Plain Python: it picks the parallel or the serial kernel."""',
            f"    {outs}{',' if len(plan.states) == 1 else ''} = outs",
            "    sd, da, pr, pc, coef, tail, energy, ok = diag",
            "    C_b, C_W, lambda_b, lambda_W, r = params",
            f"    bad = np.zeros((blocks.shape[0], {len(plan.states)}), dtype=np.int64)",
            "    kernel = _tiles if parallel else _tiles_serial",
            "    kernel(X, XT, blocks, sd, da, pr, pc, coef, tail, energy, ok, C_b, C_W, lambda_b, lambda_W, r,",
            f"           {outs}, np.int64(origin[0]), np.int64(origin[1]), bool(keep_all), bad, flags)",
            "    return bad", "", ""]


def tile_functions(plan: KernelPlan, cse_block, bad) -> list[str]:
    """The tiled kernels and entry points of ``plan`` (a flow for which
    :func:`codegen.render.triangular_layers` holds), as source lines; ``cse_block`` and
    ``bad`` are the renderer's CSE printer and bad-entry test."""
    if plan.states[0].name != "K":   # pragma: no cover - K is always first
        raise ValueError("the tiled kernels need K as the first state")
    return (_initial_entry(plan, cse_block) + _initial_diagonal(plan) + _pieces(plan)
            + _diagonal_step(plan, cse_block, bad) + _tile(plan, cse_block, bad) + _tiles(plan)
            + _diagonal_pass(plan) + _run_tiles(plan))


# ---------------------------------------------------------------------------------
# Pair sub-problems: flows that are not pair-closed (V, G1, the NTK family)
# ---------------------------------------------------------------------------------
#
# Every rule of these flows reads, for an entry whose indices take the samples S, only
# entries whose indices lie in S (sample locality of the recursions), so the pair states
# of (a, b) — K, H, G1, H1 — are those of the two-input problem {x_a, x_b}, whose
# four-point states are the pair block of V, D, F, ...  ``_pair_blocks`` runs that problem
# (and the one-input problem of each diagonal entry) through all layers with the serial
# kernels, for every pair of a rectangle, writing only the pair states.

PAIR_ROOTS = ("run_pair_tiles",)


def _pair_states(plan: KernelPlan):
    return [s for s in plan.states if s.rank == 2]


def _initial_into(plan: KernelPlan, printer) -> list[str]:
    a1, a2 = sample_indices[:2]
    gram = sp.IndexedBase("gram")
    g = sp.Symbol("g")
    names = [s.name for s in plan.states]
    L = ["@numba.njit(cache=True)",
         f"def _initial_into(gram, C_b, C_W, lambda_b, lambda_W, {', '.join(f'{s}0' for s in names)}):",
         '    """The declared initial conditions (layer 1) of every state for the Gram matrix gram."""',
         "    n = gram.shape[0]"]
    for s in plan.states:
        expr = s.initial
        if expr.has(gram):
            L += ["    for a1 in range(n):", "        for a2 in range(n):", "            g = gram[a1, a2]",
                  f"            {s.name}0[a1, a2] = {printer.doprint(expr.xreplace({gram[a1, a2]: g}))}"]
        else:
            loops = [f"    {'    ' * k}for i{k} in range({s.name}0.shape[{k}]):" for k in range(s.rank)]
            idx = ", ".join(f"i{k}" for k in range(s.rank))
            L += loops + [f"    {'    ' * s.rank}{s.name}0[{idx}] = {printer.doprint(expr)}"]
    return L + ["", ""]


def _pair_blocks(plan: KernelPlan, layer_body) -> list[str]:
    """``_pair_blocks``: for every block, the one-input problem of each diagonal entry inside
    it and the two-input problem of each pair a < b, through all layers with the serial
    kernels — inlined at one call site each, because numba re-optimises a callee's whole
    call tree at every site that calls it (compile time)."""
    states = [s.name for s in plan.states]
    pairs = [s.name for s in _pair_states(plan)]
    rank4 = [s for s in plan.states if s.loop == "quadruple-orbits"]
    reps1 = [f"reps1_{s.name}" for s in rank4]
    reps2 = [f"reps2_{s.name}" for s in rank4]
    outs = [f"out_{s}" for s in pairs]
    head = ", ".join(["C_b", "C_W", "lambda_b", "lambda_W", "r"] + reps1 + reps2 + ["ms1", "ms2"])
    I = " " * 16   # the sub-problem's indentation

    def fail(code, layer):
        return [f"st, ly = {code}, {layer}", "break"]
    L = ["@numba.njit(cache=True, parallel=True)",
         f"def _pair_blocks(X, blocks, {head}, {', '.join(outs)}, oi, oj, keep_all, fails, flags):",
         '    """For every row (i0, i1, j0, j1) of blocks: the pair states of each pair a < b of the',
         "    rectangle from its two-input problem {x_a, x_b}, and of each diagonal entry (a, a) in it",
         "    from its one-input problem, stored at (a, b) and (b, a) where those fall inside the",
         "    output block (origin oi, oj).  fails[q] becomes (status, layer) of the block's earliest",
         '    failure (as run_layers reports them)."""',
         "    n0 = X.shape[1]",
         "    ni = out_K.shape[1]",
         "    nj = out_K.shape[2]",
         "    depth = C_b.shape[0]",
         "    nb = 2",
         "    for q in numba.prange(blocks.shape[0]):",
         "        i0, i1, j0, j1 = blocks[q, 0], blocks[q, 1], blocks[q, 2], blocks[q, 3]",
         "        for a in range(i0, i1):",
         "            for b in range(max(j0, a), j1):",
         "                if b == a and not (0 <= a - oi < ni and 0 <= a - oj < nj):",
         "                    continue",
         "                m = 1 if b == a else 2",
         "                gram = np.empty((m, m))",
         "                gram[0, 0] = _dot_rows(X, a, a) / n0",
         "                if m == 2:",
         "                    gram[0, 1] = _dot_rows(X, a, b) / n0",
         "                    gram[1, 0] = gram[0, 1]",
         "                    gram[1, 1] = _dot_rows(X, b, b) / n0"]
    L += [f"{I}reps_{s.name} = reps1_{s.name} if m == 1 else reps2_{s.name}" for s in rank4]
    if plan.quads:
        L.append(f"{I}multisets = ms1 if m == 1 else ms2")
    L += [f"{I}{s.name} = np.empty((2{', m' * s.rank}))" for s in plan.states]
    L += [f"{I}_initial_into(gram, C_b[0], C_W[0], lambda_b[0], lambda_W[0], {', '.join(f'{s}[0]' for s in states)})"]
    L += [f"{I}n = m", f"{I}st, ly = 0, 0",
          f"{I}if not np.all(np.abs(K[0]) <= 1e300):   # also false for nan", f"{I}    st, ly = 1, 1",
          f"{I}elif not _positive_diagonal(K[0]):", f"{I}    st, ly = 2, 1"]
    L += [f"{I}{x.name} = np.empty({'(n, n)' if x.rank == 2 else 'n'})" for x in plan.atoms]

    def store(layer_slot: str, state_slot: str, indent: str) -> list[str]:
        """Entries (0, m-1) and (m-1, 0) of the pair states at (a, b) and (b, a)."""
        out = [f"{indent}for e in range(2):",
               f"{indent}    u, w = (0, m - 1) if e == 0 else (m - 1, 0)",
               f"{indent}    ra, ca = (a - oi, b - oj) if e == 0 else (b - oi, a - oj)",
               f"{indent}    if 0 <= ra < ni and 0 <= ca < nj:"]
        return out + [f"{indent}        out_{x}[{layer_slot}, ra, ca] = {x}[{state_slot}, u, w]" for x in pairs]
    L += [f"{I}if keep_all:"] + store("0", "0", I + "    ")
    L += [f"{I}last = 0",
          f"{I}for l in range(depth - 1 if st == 0 else 0):",
          f"{I}    i, j = l % nb, (l + 1) % nb"]
    L += layer_body(plan, {"atoms": "_atoms_serial", "step": "_step_serial", "mirror": "_mirror_upper_serial",
                           "quad": "_quad_serial"}, I + "    ", fail)
    L += [f"{I}    last = l + 1", f"{I}    if keep_all:"] + store("l + 1", "j", I + "        ")
    L += [f"{I}if not keep_all:"] + store("0", "last % nb", I + "    ")
    L += [f"{I}if st and (fails[q, 0] == 0 or ly < fails[q, 1]):",
          f"{I}    fails[q, 0] = st",
          f"{I}    fails[q, 1] = ly"]
    return L + ["", ""]


def _run_pair_tiles(plan: KernelPlan) -> list[str]:
    pairs = [s.name for s in _pair_states(plan)]
    rank4 = [s for s in plan.states if s.loop == "quadruple-orbits"]
    reps = []
    for m in (1, 2):
        reps += [f"_orbit_representatives({m}, _GROUP_{s.name})" for s in rank4]
    comma = "," if len(pairs) == 1 else ""
    return ["def run_pair_tiles(X, blocks, params, outs, origin, keep_all, flags, parallel=True):",
            '    """The pair states (PAIR_STATES order; outs: one array (layers, rows, columns) each, entry',
            "    [k, 0, 0] at pair origin) on the pairs of blocks (rows (i0, i1, j0, j1)) and the diagonal",
            "    entries inside them, each from its own one- or two-input problem.  Returns bad (blocks, 2):",
            '    per block (status, layer) of the earliest failure, (0, 0) if none."""',
            f"    {', '.join(pairs)}{comma} = outs",
            "    C_b, C_W, lambda_b, lambda_W, r = params",
            f"    reps = ({''.join(f'{x}, ' for x in reps)})",
            "    ms1 = _multisets(np.int64(1))",
            "    ms2 = _multisets(np.int64(2))",
            "    bad = np.zeros((blocks.shape[0], 2), dtype=np.int64)",
            "    kernel = _pair_blocks if parallel else _pair_blocks_serial",
            "    kernel(X, blocks, C_b, C_W, lambda_b, lambda_W, r, *reps, ms1, ms2, "
            f"{', '.join(pairs)}, np.int64(origin[0]), np.int64(origin[1]), bool(keep_all), bad, flags)",
            "    return bad", "", ""]


def pair_functions(plan: KernelPlan, printer, layer_body) -> list[str]:
    """The pair sub-problem kernels and ``run_pair_tiles`` of a flow that is not pair-closed
    (``printer``: the renderer's printer; ``layer_body``: its layer-loop body emitter)."""
    if plan.states[0].name != "K":   # pragma: no cover - K is always first
        raise ValueError("the pair kernels need K as the first state")
    return (["@numba.njit(cache=True)", "def _dot_rows(X, a, b):",
             '    """x_a . x_b summed over features in order (the same bits wherever it is called)."""',
             "    s = 0.0", "    for k in range(X.shape[1]):", "        s += X[a, k] * X[b, k]", "    return s", "", ""]
            + _initial_into(plan, printer) + _pair_blocks(plan, layer_body) + _run_pair_tiles(plan))
