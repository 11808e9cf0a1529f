"""Stage *render*: :class:`~codegen.lower.KernelPlan` → the text of one module.

The module is self-contained (imports only ``math``, ``numpy``, ``numba``), every
function is ``@numba.njit(cache=True)``, and the text depends only on the plan:
sorted constants, canonical CSE (``sympy.cse(..., order="canonical")``), numbers
through :func:`codegen.printer.number_literal`, no timestamps or paths.

Module layout: header, imports, metadata (``SPEC``, ``SIGNATURE``, ``QUANTITIES``,
``ATOM_METHODS``), factor functions, the generic numerics
(``codegen/numerics_template.py`` verbatim), closed forms, ``_atoms`` (pair and
per-sample atoms of one layer), ``_quad`` (four-point function), ``_step`` (the
update rules), ``run_layers`` (the layer loop with overflow checks; plain Python that
calls the parallel kernels, none of which calls another).

Speed (the O(N_D²) pair loops dominate K+H at large N_D): pair loops run over
balanced folded rows on threads; their bodies read and write slices that start at
the diagonal and are indexed from 0, closed forms are inlined scalar functions under
numpy's error model, and arcsine/arccosine are the polynomial ``_asin``/``_acos``, so
LLVM vectorises the loop (``benchmarks/RESULTS.md`` has the measurements).
"""

from __future__ import annotations

import ast
import pathlib

import sympy as sp

from derive.errors import RGFlowError
from derive.recursions import partition_key, sample_indices, set_partitions, width_ratio
from derive.symbols import C_W, C_b, kernel_matrix, lambda_W, lambda_b

from .lower import Absent, Closed, KernelPlan, Mehler, Nested, Quadrature1D
from .printer import NumbaPrinter, number_literal
from .render_tiles import PAIR_ROOTS, TILE_ROOTS, pair_functions, tile_functions

__all__ = ["render_module", "GENERATOR_FORMAT", "DEFAULT_COMMAND", "NUMERICS"]

#: Bumped whenever the emitted format changes (part of every cache key and manifest entry).
GENERATOR_FORMAT = 6
DEFAULT_COMMAND = "python -m codegen regenerate"
NUMERICS = (pathlib.Path(__file__).with_name("numerics_template.py")).read_text()
_JIT = "@numba.njit(cache=True)"
#: Loops over independent pairs (O(N_D^2)) and multisets (O(N_D^4 / 24)) of samples run on threads.
_JIT_PARALLEL = "@numba.njit(cache=True, parallel=True)"


def _printer() -> NumbaPrinter:
    return NumbaPrinter()


def _cse_block(exprs, indent: str, prefix: str = "t") -> tuple[list[str], list[str]]:
    """Canonical CSE of ``exprs``: (assignment lines, printed reduced expressions)."""
    p = _printer()
    replacements, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols(prefix), order="canonical")
    lines = [f"{indent}{p.doprint(lhs)} = {p.doprint(rhs)}" for lhs, rhs in replacements]
    return lines, [p.doprint(e) for e in reduced]


def _upper_symbols(size: int):
    K = kernel_matrix(size)
    return [K[i, j] for i in range(size) for j in range(i, size)]


#: Characters that text from outside the generator (the activation's name, the command that
#: generated the module) may contain to be written into generated source.  In a ``#`` comment
#: only a line break (or a non-ASCII character, for the ASCII file) could end the comment, so
#: comments take printable ASCII; the docstring also refuses quotes, backslashes and backticks.
#: Canonical names are printer output (identifiers, digits, operators), so they always pass.
_COMMENT_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F))
_DOCSTRING_SAFE = _COMMENT_SAFE - set("\"'\\`")


class UnsafeSourceText(RGFlowError, ValueError):
    """Text that would have to be escaped to appear in generated source."""


def source_text(text: str, what: str, allowed: frozenset = _DOCSTRING_SAFE) -> str:
    """``text`` if every character is in ``allowed`` (so that it may appear verbatim in a
    docstring, or with ``allowed=_COMMENT_SAFE`` in a comment line), else
    :class:`UnsafeSourceText`: user text is refused, never escaped into source.

    Examples
    --------
    >>> source_text("z*tanh(z) + z/7", "activation name")
    'z*tanh(z) + z/7'
    >>> source_text("x'; import os", "activation name")
    Traceback (most recent call last):
    ...
    codegen.render.UnsafeSourceText: activation name contains characters that cannot appear in generated source
    """
    if not isinstance(text, str) or not set(text) <= allowed:
        raise UnsafeSourceText(f"{what} contains characters that cannot appear in generated source")
    return text


def _header(plan: KernelPlan, command: str) -> list[str]:
    return module_header(plan.activation, command, f"observables={tuple(plan.observables)!r}", plan.flow_signature,
                         f"generator-format: {GENERATOR_FORMAT}",
                         ["finite-width recursions of {name} for N_D inputs.", "",
                          "Self-contained generated module (imports only math, numpy and numba).  Entry point:",
                          "initial_state(gram, C_b, C_W, lambda_b, lambda_W) -> layer-1 states;",
                          "run_layers(init, params, states, flags, progress=None, parallel=True) -> (status, layer)."])


def module_header(act, command: str, spec: str, signature: str, fmt: str, doc: list[str]) -> list[str]:
    """The comment header, docstring and imports every generated module starts with: the generating
    ``command`` and the activation's canonical name and expression (refused, never escaped, when they
    hold characters that cannot appear in source: :func:`source_text`), the flow ``spec`` arguments, the
    flow signature, the format line ``fmt``, and ``doc`` as the docstring ("rgflow evaluator of the "
    followed by its first line; ``{name}`` is the activation's name)."""
    name = source_text(act.name, "activation name")
    return [
        f"# Generated by `{source_text(command, 'generator command', _COMMENT_SAFE)}` -- DO NOT EDIT "
        "(regenerate instead).",
        f"# spec: flow({name!r}, {spec})",
        f"# activation: sigma(z) = {source_text(sp.sstr(act.bound_expr), 'activation expression')}",
        f"# flow-signature: {signature}",
        f"# {fmt}",
        f'"""rgflow evaluator of the {doc[0].format(name=name)}',
        *doc[1:],
        '"""',
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
    ]


def _metadata(plan: KernelPlan) -> list[str]:
    act = plan.activation
    methods = {}
    for a in plan.atoms:
        methods[a.name] = "+".join(sorted({m.method for m in (a.diag, a.off) if not isinstance(m, Absent)}))
    for q in plan.quads:
        methods[q.name] = q.kinds
    lines = [
        f"SIGNATURE = {plan.flow_signature!r}",
        f"GENERATOR_FORMAT = {GENERATOR_FORMAT}",
        f"ACTIVATION = {source_text(act.name, 'activation name')!r}",
        f"SIGMA = {source_text(sp.sstr(act.bound_expr), 'activation expression')!r}",
        f"OBSERVABLES = {tuple(plan.observables)!r}",
        f"QUANTITIES = {tuple(plan.quantities)!r}",
        "ATOM_METHODS = {" + ", ".join(f"{k!r}: {methods[k]!r}" for k in sorted(methods)) + "}",
        f"SCHEDULE = {tuple(plan.schedule)!r}",
        "#: (name, rank) of each state, in the order of run_layers' init and states",
        f"STATES = {tuple((s.name, s.rank) for s in plan.states)!r}",
        "#: run_layers status code -> the state that stopped being finite (2: a vanishing variance)",
        "STATUS = {" + ", ".join(f"{s.status}: {s.name!r}" for s in plan.states) + "}",
        "#: whether diagonal_pass and run_tiles evaluate the flow by layer-fused tiles (codegen/render_tiles.py)",
        f"TILED = {triangular_layers(plan)}",
        "#: the rank-2 states run_pair_tiles computes (flows that are not pair-closed: per-pair sub-problems)",
        f"PAIR_STATES = {tuple(s.name for s in plan.states if s.rank == 2) if not triangular_layers(plan) else ()!r}",
        "",
    ]
    return lines


def _factors(plan: KernelPlan) -> list[str]:
    p = _printer()
    nf = len(plan.factors)
    width = max([len(f.kinks) for f in plan.factors] + [1])
    kink_rows = []
    for f in plan.factors:
        row = [number_literal(k) for k in f.kinks] + ["0.0"] * (width - len(f.kinks))
        kink_rows.append("[" + ", ".join(row) + "]")
    lines = [
        f"_NFACTORS = {nf}",
        "_HZ = np.array([" + ", ".join(repr(float(f.hz)) for f in plan.factors) + "], dtype=np.float64)",
        "_NKINKS = np.array([" + ", ".join(str(len(f.kinks)) for f in plan.factors) + "], dtype=np.int64)",
        (f"_KINKS = np.array([{', '.join(kink_rows)}], dtype=np.float64)" if nf
         else f"_KINKS = np.zeros((0, {width}), dtype=np.float64)"),
        "_HAS_SMOOTH = np.array([" + ", ".join("True" if f.smooth is not None else "False"
                                              for f in plan.factors) + "], dtype=np.bool_)",
        "_MEHLER_FIDS = np.array([" + ", ".join(str(i) for i in plan.mehler_fids) + "], dtype=np.int64)",
        "",
        "",
        _JIT,
        "def _factor(k, z):",
        '    """The numeric factor functions f_k(z)."""',
    ]
    for f in plan.factors:
        lines.append(f"    if k == {f.index}:")
        lines.append(f"        # f_{f.index}(z) = {source_text(sp.sstr(f.expr), 'factor expression')}")
        lines.append(f"        return {p.doprint(f.expr)}")
    lines += ["    return math.nan", "", "", _JIT, "def _smooth(k, m, s):",
              '    """Closed-form E[f_k(m + s e)], e ~ N(0, 1), where the rule table has one."""']
    for f in plan.factors:
        if f.smooth is None:
            continue
        body, (value,) = _cse_block([f.smooth], "        ")
        lines.append(f"    if k == {f.index}:")
        lines += body
        lines.append(f"        return {value}")
    lines += ["    return math.nan", "", ""]
    return lines


#: Closed forms divide (1/sqrt of a determinant); numpy's error model keeps that a plain
#: IEEE division (inf, caught by the finiteness checks) instead of a ZeroDivisionError
#: branch, which would stop LLVM from vectorising the pair loops that inline them.
_JIT_CLOSED = '@numba.njit(cache=True, error_model="numpy")'


def _closed_function(name: str, args, exprs, tuple_out: bool) -> list[str]:
    """``name(args)`` returning the tuple of ``exprs`` (``tuple_out``) or the single value."""
    lines = [_JIT_CLOSED, f"def {name}({', '.join(str(a) for a in args)}):"]
    body, values = _cse_block(exprs, "    ")
    lines += body
    if tuple_out:
        lines.append(f"    return ({', '.join(values)},)")
    else:
        lines.append(f"    return {values[0]}")
    return lines + ["", ""]


def _closed_pair_functions(split) -> list[str]:
    """Closed pair forms with their per-sample pieces hoisted.

    Maximal subexpressions of K11 alone are computed once per sample by
    ``_closed_ab_row(K11)``, those of K22 alone by ``_closed_ab_col(K22)`` (tuples);
    ``_closed_ab(K11, K12, K22, <row pieces>, <column pieces>)`` computes the rest per
    pair and returns the tuple of pair forms — so square roots and other functions of
    the variances are not recomputed N_D times, and the per-pair function is plain
    scalar arithmetic that LLVM inlines and vectorises over the pair loop.
    """
    K2 = kernel_matrix(2)
    k11, k12, k22 = K2[0, 0], K2[0, 1], K2[1, 1]
    row, col, pair = split
    lines = []
    for name, arg, pieces in (("_closed_ab_row", k11, row), ("_closed_ab_col", k22, col)):
        if pieces:
            lines += _closed_function(name, [arg], [e for e, _ in pieces], True)
    args = [k11, k12, k22] + [sym for _, sym in row] + [sym for _, sym in col]
    return lines + _closed_function("_closed_ab", args, pair, True)


def _closed(plan: KernelPlan) -> list[str]:
    lines = []
    K1 = kernel_matrix(1)
    if plan.closed_diag:
        lines += _closed_function("_closed_a", [K1[0, 0]], [e for _, e in plan.closed_diag], True)
    if plan.closed_off:
        lines += _closed_pair_functions(plan.closed_off_split)
    for atom in plan.quads:
        for q in atom.patterns:
            if q.kind == "closed":
                lines += _closed_function(f"_closed_{atom.name}_{q.key}", _upper_symbols(len(q.multiplicities)),
                                          [q.expr], False)
    return lines


_FOLDED_ROWS = [
    "    for i in numba.prange((n + 1) // 2):",
    "        # rows i and n-1-i together: every iteration has n-1 pairs (balanced triangle);",
    "        # int64 casts: numba may type a prange index as unsigned, and int - uint is a float",
    "        for side in range(2):",
    "            a = np.int64(i)",
    "            if side == 1:",
    "                a = np.int64(n - 1) - np.int64(i)",
    "                if a == np.int64(i):",
    "                    break",
]


def _reads_upper_only(state) -> bool:
    """Whether the rules of ``state`` read every tensor at (a1, a2) only (or a one-index
    tensor at a1 or a2): then its upper triangle needs only upper triangles."""
    a1, a2 = sample_indices[:2]
    return all(x.indices in ((a1, a2), (a1,), (a2,)) for u in state.rules for x in u.rhs.atoms(sp.Indexed))


def triangular_layers(plan: KernelPlan) -> bool:
    """Whether the layer loop may keep pair quantities upper-triangular.

    When every state is updated pair by pair on the upper triangle and its rules read
    entry (a1, a2) only for a1 <= a2 (K and H), the atoms and states are computed on the
    upper triangle (diagonal included) and the stored layers mirrored once at the end.
    Otherwise (V, G1 and the four-point function index atoms and K freely) every layer
    is mirrored as soon as it is computed (non-symmetric atoms are always computed in
    full).
    """
    return all(s.loop == "symmetric-pairs" and _reads_upper_only(s) for s in plan.states) and not plan.quads


def _closed_pair_loop(plan: KernelPlan, closed_off) -> list[str]:
    """Inner loop over b = a + 1 + t of the closed pair forms.

    Everything the body reads or writes per pair is a slice starting right of the
    diagonal, indexed by t from 0: numba then drops its negative-index wraparound and
    the body is straight-line arithmetic that LLVM vectorises (with an index starting
    at a it did not: 3x slower, measured).
    """
    row, col, _ = plan.closed_off_split
    L = ["            kda = kd[a]", "            Ka = K[a, a + 1:]", "            kdb = kd[a + 1:]"]
    L += [f"            r{i}a = pr[{i}, a]" for i in range(len(row))]
    L += [f"            c{i}b = pc[{i}, a + 1:]" for i in range(len(col))]
    need_transpose = any(not a.symmetric for a in closed_off)
    if need_transpose:
        L += [f"            c{i}a = pc[{i}, a]" for i in range(len(col))]
        L += [f"            r{i}b = pr[{i}, a + 1:]" for i in range(len(row))]
    L += [f"            row_{a.name} = {a.name}[a, a + 1:]" for a in closed_off if a.symmetric]
    L.append("            for t in range(n - a - 1):")
    args = (["kda", "Ka[t]", "kdb[t]"] + [f"r{i}a" for i in range(len(row))]
            + [f"c{i}b[t]" for i in range(len(col))])
    L.append(f"                v = _closed_ab({', '.join(args)})")
    if need_transpose:
        args = (["kdb[t]", "Ka[t]", "kda"] + [f"r{i}b[t]" for i in range(len(row))]
                + [f"c{i}a" for i in range(len(col))])
        L.append(f"                vt = _closed_ab({', '.join(args)})")
    for a in closed_off:
        slot = a.off.slot
        if a.symmetric:
            L.append(f"                row_{a.name}[t] = v[{slot}]")
        else:
            L += [f"                {a.name}[a, a + 1 + t] = v[{slot}]",
                  f"                {a.name}[a + 1 + t, a] = vt[{slot}]"]
    return L


def _table(name: str, rows, dtype: str = "np.int64") -> str:
    """A module-level constant array (numba freezes it into the kernels that read it)."""
    return f"{name} = np.array([{', '.join(str(r) for r in rows)}], dtype={dtype})"


def _atoms_function(plan: KernelPlan) -> list[str]:
    """``_atoms``: the expectation atoms of one layer.

    Per-sample atoms (O(N_D) work) are serial loops; only the pair loop is parallel.
    Numeric atoms are evaluated from tables (``_DIAG_FIDS``, ``_PAIR_*``) at one call
    site each, not one call site per atom: numba links and LLVM re-optimises (and
    inlines) the callee's whole call tree at every site, which was most of the
    first-use compile time of quadrature modules.
    """
    names = [a.name for a in plan.atoms]
    closed_off = [a for a in plan.atoms if isinstance(a.off, Closed)]
    numeric_off = [a for a in plan.atoms if isinstance(a.off, (Mehler, Nested))]
    numeric_diag = [a for a in plan.atoms if isinstance(a.diag, Quadrature1D)]
    mehler_index = {fid: i for i, fid in enumerate(plan.mehler_fids)}
    jobs = []   # (target, (fa, fb), (ia, ib) or (-1, -1), swapped)
    for a in numeric_off:
        fa, fb = a.off.factors
        mi = (mehler_index[fa], mehler_index[fb]) if isinstance(a.off, Mehler) else (-1, -1)
        jobs.append((f"{a.name}[a, b]", (fa, fb), mi, 0))
        if not a.symmetric:
            jobs.append((f"{a.name}[b, a]", (fa, fb), mi, 1))
    L = []
    if numeric_diag:
        L.append(_table("_DIAG_FIDS", [a.diag.factor for a in numeric_diag]))
    if jobs:
        L += [_table("_PAIR_FIDS", [list(j[1]) for j in jobs]),
              _table("_PAIR_MEHLER", [list(j[2]) for j in jobs]),
              _table("_PAIR_SWAP", [j[3] for j in jobs])]
    L += ["", "", _JIT_PARALLEL, f"def _atoms(K, flags, {', '.join(names)}):",
          '    """Per-sample and pair expectation atoms of one layer, written into the buffers:',
          '    every entry except below the diagonal of symmetric atoms (run_layers mirrors them',
          '    when an update reads them there)."""',
          "    n = K.shape[0]",
          "    kd = np.empty(n)",
          "    for a in range(n):",
          "        kd[a] = K[a, a]"]
    if plan.closed_diag:
        L.append("    for a in range(n):")
        L.append("        bd = _closed_a(kd[a])")
        for a in plan.atoms:
            if isinstance(a.diag, Closed):
                target = f"{a.name}[a, a]" if a.rank == 2 else f"{a.name}[a]"
                L.append(f"        {target} = bd[{a.diag.slot}]")
    if numeric_diag:
        L += [f"    dg = np.empty(({len(numeric_diag)}, n))",
              "    for k in range(_DIAG_FIDS.shape[0]):",
              "        for a in range(n):",
              "            dg[k, a] = _expect_1d(_DIAG_FIDS[k], kd[a], flags)",
              "    for a in range(n):"]
        for k, a in enumerate(numeric_diag):
            target = f"{a.name}[a, a]" if a.rank == 2 else f"{a.name}[a]"
            L.append(f"        {target} = dg[{k}, a]")
    if not (closed_off or numeric_off):
        return L + ["", ""]
    if plan.mehler_fids:
        L.append("    coef, tail, energy, ok = _mehler_tables(_MEHLER_FIDS, kd, flags)")
    if closed_off:
        row, col, _ = plan.closed_off_split
        # per-sample pieces of the pair forms, one row per piece (contiguous over samples)
        L += [f"    pr = np.empty(({len(row)}, n))", f"    pc = np.empty(({len(col)}, n))"]
        if row or col:
            L.append("    for a in range(n):")
        for name, arr, pieces in (("_closed_ab_row", "pr", row), ("_closed_ab_col", "pc", col)):
            if pieces:
                L.append(f"        v = {name}(kd[a])")
                L += [f"        {arr}[{i}, a] = v[{i}]" for i in range(len(pieces))]
    L += _FOLDED_ROWS
    if closed_off:
        L += _closed_pair_loop(plan, closed_off)
    if jobs:
        L += [f"            pv = np.empty({len(jobs)})",
              "            for b in range(a + 1, n):",
              "                rho = _correlation(kd[a], K[a, b], kd[b])",
              "                for k in range(_PAIR_SWAP.shape[0]):",
              "                    x = a",
              "                    y = b",
              "                    if _PAIR_SWAP[k] == 1:",
              "                        x = b",
              "                        y = a",
              "                    v = math.nan"]
        if plan.mehler_fids:
            L += ["                    if _PAIR_MEHLER[k, 0] >= 0:",
                  "                        v = _mehler_value(coef, tail, energy, ok, _PAIR_MEHLER[k, 0], x,",
                  "                                          _PAIR_MEHLER[k, 1], y, rho)"]
        L += ["                    if v != v:",
              "                        v = _expect_pair_nested(_PAIR_FIDS[k, 0], _PAIR_FIDS[k, 1], kd[x], K[a, b],",
              "                                                kd[y], flags)",
              "                    pv[k] = v"]
        L += [f"                {target} = pv[{k}]" for k, (target, *_r) in enumerate(jobs)]
    return L + ["", ""]


def _rgs_index() -> list[int]:
    """Pattern number of every restricted-growth code rg1*16 + rg2*4 + rg3 (−1 if none)."""
    table = [-1] * 64
    for p, rgs in enumerate(set_partitions(4)):
        table[rgs[1] * 16 + rgs[2] * 4 + rgs[3]] = p
    return table


#: Render the block Hermite series for three- and four-sample expectations where it applies
#: (False: the nested rule alone, the previous algorithm; benchmarks/bench_vertex_scale.py).
BLOCK_SERIES = True


def block_rule(plan: KernelPlan) -> bool:
    """Whether the three- and four-sample expectations use the block Hermite series
    (``_block_sums``): every factor of those shapes is smooth (no break points)."""
    return BLOCK_SERIES and plan.shared_quadrature and any(sh.samples >= 3 for sh in plan.shapes) and all(
        not sh.kinks[i] for sh in plan.shapes if sh.samples >= 3 for i in range(sh.samples))


def _block_rule_tables(plan: KernelPlan) -> list[str]:
    """The factor pairs (``_BK_FIDS2``) and single factors (``_BK_FIDS1``) whose Hermite
    tables ``_block_tables`` builds, and per shape and signature the table each block reads:
    ``_BK_C2[shape, g, i, j]`` for the samples i < j, ``_BK_C1[shape, g]`` for the doubled
    sample ``_BK_DOUBLE[shape]`` of a three-sample shape."""
    if not block_rule(plan):
        return []
    shapes = plan.shapes
    nsig = max(len(sh.signatures) for sh in shapes)

    def fid(sh, g, i):
        return sh.monomials[i][sh.signatures[g][i]]

    def doubled(sh):
        return next(i for i in range(sh.samples) if sh.rgs.count(i) == 2) if sh.samples == 3 else -1

    def pairs(sh):
        if sh.samples == 4:
            return [(i, j) for i in range(4) for j in range(i + 1, 4)]
        if sh.samples == 3:
            return [tuple(i for i in range(3) if i != doubled(sh))]
        return []

    c2 = sorted({(fid(sh, g, i), fid(sh, g, j)) for sh in shapes for g in range(len(sh.signatures))
                 for i, j in pairs(sh)})
    c1 = sorted({fid(sh, g, doubled(sh)) for sh in shapes if sh.samples == 3 for g in range(len(sh.signatures))})
    C2 = [[[[c2.index((fid(sh, g, i), fid(sh, g, j))) if g < len(sh.signatures) and (i, j) in pairs(sh) else -1
             for j in range(4)] for i in range(4)] for g in range(nsig)] for sh in shapes]
    C1 = [[c1.index(fid(sh, g, doubled(sh))) if sh.samples == 3 and g < len(sh.signatures) else -1
           for g in range(nsig)] for sh in shapes]
    return ["#: Block Hermite series (_block_sums): factor pairs and single factors with Hermite tables,",
            "#: and per shape and signature the table of each block (-1: none); the doubled sample of",
            "#: each three-sample shape (-1: other shapes).",
            _table("_BK_FIDS2", [list(c) for c in c2]),
            _table("_BK_FIDS1", c1) if c1 else "_BK_FIDS1 = np.zeros(0, dtype=np.int64)",
            _table("_BK_C2", C2),
            _table("_BK_C1", C1),
            _table("_BK_DOUBLE", [doubled(sh) for sh in shapes])]


def _shape_tables(plan: KernelPlan) -> list[str]:
    """The ``_SH_*`` tables of the shapes (:class:`codegen.lower.QuadShape`) that
    ``_shared_nested`` and ``_quad`` read, and ``_monomials``."""
    shapes = plan.shapes
    width = max([len(r) for sh in shapes for r in sh.monomials] + [1])
    nsig = max([len(sh.signatures) for sh in shapes] + [1])
    nk = max([len(k) for sh in shapes for k in sh.kinks] + [1])

    def pad(row, size, fill=0):
        return list(row) + [fill] * (size - len(row))

    def rows4(get, fill=0):
        return [pad([get(sh, i) for i in range(sh.samples)], 4, fill) for sh in shapes]

    smooth = [[f"{all(plan.factors[f].smooth is not None for f in sh.monomials[i])}"
               if i < sh.samples else "False" for i in range(4)] for sh in shapes]
    kinks = [[pad([repr(k) for k in sh.kinks[i]] if i < sh.samples else [], nk, "0.0") for i in range(4)]
             for sh in shapes]
    L = ["#: Four-sample atoms on shared nodes (codegen.lower.QuadShape), per shape of a sorted quadruple",
         f"#: ({', '.join(partition_key(sh.rgs) for sh in shapes)}); _SHAPE_INDEX maps its restricted-growth",
         "#: code rg1*16 + rg2*4 + rg3 to the shape.  Per shape and sample: monomial count, factor ids,",
         "#: calibrated step, break points, closed smoothing of all; per shape: the signatures.",
         _table("_SHAPE_INDEX", [next((k for k, sh in enumerate(shapes) if sh.rgs[1:] == (c // 16, c // 4 % 4, c % 4)),
                                      -1) for c in range(64)]),
         f"_SH_WIDTH = {width}",
         f"_SH_MAXSIG = {nsig}",
         _table("_SH_M", [sh.samples for sh in shapes]),
         _table("_SH_NMONO", rows4(lambda sh, i: len(sh.monomials[i]))),
         _table("_SH_MONO", [[pad(sh.monomials[i] if i < sh.samples else (), width) for i in range(4)]
                             for sh in shapes]),
         "_SH_HZ = np.array([" + ", ".join("[" + ", ".join(repr(float(x)) for x in r) + "]"
                                          for r in rows4(lambda sh, i: sh.hz[i], 1.0)) + "], dtype=np.float64)",
         _table("_SH_NKINKS", rows4(lambda sh, i: len(sh.kinks[i]))),
         "_SH_KINKS = np.array([" + ", ".join("[" + ", ".join("[" + ", ".join(k) + "]" for k in r) + "]"
                                             for r in kinks) + "], dtype=np.float64)",
         "_SH_SMOOTH = np.array([" + ", ".join("[" + ", ".join(r) + "]" for r in smooth) + "], dtype=np.bool_)",
         _table("_SH_NSIG", [len(sh.signatures) for sh in shapes]),
         _table("_SH_SIG", [[pad(sh.signatures[g], 4) if g < len(sh.signatures) else [0] * 4
                             for g in range(nsig)] for sh in shapes]),
         f"#: Per four-sample atom ({', '.join(a.name for a in plan.quads)}) and shape: orbits of the 24",
         "#: permutations of the quadruple under the atom's slot symmetry (count; per orbit its first",
         "#: permutation, _PERM4 number, and signature, -1 where closed), and each permutation's orbit.",
         _table("_SH_NREP", [[len(sh.reps[k]) for sh in shapes] for k in range(len(plan.quads))]),
         _table("_SH_REP_PERM", [[pad([r[0] for r in sh.reps[k]], 24) for sh in shapes]
                                 for k in range(len(plan.quads))]),
         _table("_SH_REP_SIG", [[pad([r[1] for r in sh.reps[k]], 24) for sh in shapes]
                                for k in range(len(plan.quads))]),
         _table("_SH_REP_OF", [[list(sh.rep_of[k]) for sh in shapes] for k in range(len(plan.quads))])]
    L += _block_rule_tables(plan)
    if plan.shared_quadrature:
        L += ["", "", _JIT, "def _monomials(shape, i, z, out):",
              '    """out[j] = the j-th monomial (factor _SH_MONO[shape, i, j]) of sample i of the shape at z,',
              '    with the subexpressions they share computed once."""']
        # most samples first: the four-distinct shape is the hot path
        for k, sh in sorted(enumerate(shapes), key=lambda ks: (-ks[1].samples, ks[0])):
            rows = [(i, sh.monomials[i]) for i in range(sh.samples) if sh.monomials[i]]
            if not rows:
                continue
            L.append(f"    if shape == {k}:")
            for i, fids in rows:
                body, values = _cse_block([plan.factors[f].expr for f in fids], "            ")
                L.append(f"        if i == {i}:")
                L += body
                L += [f"            out[{j}] = {v}" for j, v in enumerate(values)]
                L.append("            return")
        L += [""]
    return L + [""]


def _quad_closed_function(plan: KernelPlan) -> list[str]:
    """``_quad_closed(atom, K, t0, t1, t2, t3)``: a four-sample atom at the quadruple t from
    its closed form (the pattern read off t's coincidences; nan where there is none)."""
    keys = [partition_key(rgs) for rgs in set_partitions(4)]
    L = ["#: Coincidence pattern number of each restricted-growth code rg1*16 + rg2*4 + rg3 (patterns:",
         f"#: {', '.join(keys)}).",
         _table("_RGS_INDEX", _rgs_index()),
         "", "", _JIT, "def _quad_closed(atom, K, t0, t1, t2, t3):",
         '    """Four-sample atom number atom at (t0, t1, t2, t3) in closed form."""',
         "    t = (t0, t1, t2, t3)",
         "    s = np.zeros(4, dtype=np.int64)",
         "    rg = np.zeros(4, dtype=np.int64)",
         "    m = 0",
         "    for u in range(4):",
         "        found = -1",
         "        for w in range(m):",
         "            if s[w] == t[u]:",
         "                found = w",
         "        if found < 0:",
         "            s[m] = t[u]",
         "            rg[u] = m",
         "            m += 1",
         "        else:",
         "            rg[u] = found",
         "    pat = _RGS_INDEX[rg[1] * 16 + rg[2] * 4 + rg[3]]"]
    for k, atom in enumerate(plan.quads):
        closed = [(keys.index(q.key), q) for q in atom.patterns if q.kind == "closed"]
        if not closed:
            continue
        L.append(f"    if atom == {k}:")
        for p, q in closed:
            m = len(q.multiplicities)
            args = [f"K[s[{i}], s[{j}]]" for i in range(m) for j in range(i, m)]
            L += [f"        if pat == {p}:",
                  f"            return _closed_{atom.name}_{q.key}({', '.join(args)})"]
    return L + ["    return math.nan", "", ""]


def _quad_function(plan: KernelPlan) -> list[str]:
    """``_quad(K, flags, multisets)``: every four-sample atom of one layer, in parallel over
    the sorted quadruples (``multisets``, from ``_multisets``).  At each, the numeric entries
    of all atoms come from one ``_shared_nested`` pass over the distinct samples, the closed
    ones from ``_quad_closed`` once per orbit of the atom's slot symmetry; every permutation
    of the quadruple is written (the quadruples partition the index space: no races)."""
    if not plan.quads:
        return []
    closed = any(q.kind == "closed" for a in plan.quads for q in a.patterns)
    L = _shape_tables(plan)
    if closed:
        L += _quad_closed_function(plan)
    L += ["", "", _JIT_PARALLEL, "def _quad(K, flags, multisets):",
          '    """Every four-sample atom at every quadruple: array (atom, a1, a2, a3, a4), atoms in',
          '    plan order."""',
          "    n = K.shape[0]",
          f"    Q = np.empty(({len(plan.quads)}, n, n, n, n))",
          "    for q in numba.prange(multisets.shape[0]):",
          "        a = multisets[q]",
          "        r1 = 0 if a[1] == a[0] else 1",
          "        r2 = r1 if a[2] == a[1] else r1 + 1",
          "        r3 = r2 if a[3] == a[2] else r2 + 1",
          "        shape = _SHAPE_INDEX[r1 * 16 + r2 * 4 + r3]",
          "        sums = np.empty(_SH_MAXSIG)"]
    if block_rule(plan):
        L[L.index("    for q in numba.prange(multisets.shape[0]):")] = (
            "    T2, S2, L2, T1, S1 = _block_tables(K, _BK_FIDS2, _BK_FIDS1)\n"
            "    for q in numba.prange(multisets.shape[0]):")
    if plan.shared_quadrature:
        L += ["        if _SH_NSIG[shape] > 0:",
              "            m = r3 + 1",
              "            s = np.empty(4, dtype=np.int64)",
              "            s[0] = a[0]",
              "            c = 1",
              "            for u in range(1, 4):",
              "                if a[u] != a[u - 1]:",
              "                    s[c] = a[u]",
              "                    c += 1",
              "            C = np.zeros((4, 4))",
              "            for u in range(m):",
              "                for w in range(m):",
              "                    C[u, w] = K[s[u], s[w]]",
              "            tol = _TOL_1D if m == 1 else (_TOL_2D if m == 2 else _TOL_ND)",
              "            grade = np.int64(0) if m == 1 else np.int64(1)",
              "            _shared_nested(shape, _chol(C, m), tol, grade, flags, sums)"]
        if block_rule(plan):
            L[-1:] = ["            if m < 3 or not _block_sums(shape, s, K, T2, S2, L2, T1, S1, sums):",
                      "    " + L[-1]]
    L += ["        vals = np.empty(24)",
          f"        for atom in range({len(plan.quads)}):",
          "            for r in range(_SH_NREP[atom, shape]):",
          "                g = _SH_REP_SIG[atom, shape, r]"]
    if closed:
        L += ["                if g >= 0:",
              "                    vals[r] = sums[g]",
              "                else:",
              "                    p = _PERM4[_SH_REP_PERM[atom, shape, r]]",
              "                    vals[r] = _quad_closed(atom, K, a[p[0]], a[p[1]], a[p[2]], a[p[3]])"]
    else:
        L += ["                vals[r] = sums[g]"]
    L += ["            for k in range(24):",
          "                p = _PERM4[k]",
          "                Q[atom, a[p[0]], a[p[1]], a[p[2]], a[p[3]]] = vals[_SH_REP_OF[atom, shape, k]]",
          "    return Q", "", ""]
    return L


_PARAMS = (C_b, C_W, lambda_b, lambda_W, width_ratio)


def _bad(state, value: str) -> str:
    """The expression counting a bad new entry of ``state``: beyond 1e300 or not finite for
    the kernel (overflow), not finite for the others."""
    return f"not abs({value}) <= 1e300   # also true for nan" if state.bounded else f"not math.isfinite({value})"


def _symmetric_pairs(states) -> list[str]:
    """Entries (a1, a2 = a1 + t) of every symmetric pair state updated by one "ab" rule, in
    one loop over balanced folded rows: reads and writes go through slices X[a1, a1:]
    indexed by t >= 0, so the inner loop is contiguous and vectorised (see
    _closed_pair_loop)."""
    a1, a2 = sample_indices[:2]
    t = sp.Symbol("t", integer=True, nonnegative=True)
    rules = [s.rules[0] for s in states]
    rows = {}
    for u in rules:
        for x in sorted(u.rhs.atoms(sp.Indexed), key=str):
            if x.indices == (a1, a2):
                rows[x] = sp.IndexedBase(f"row_{x.base}")[t]
    L = [line.replace(" a =", " a1 =").replace("if a ==", "if a1 ==") for line in _FOLDED_ROWS]
    L += [f"            row_{x.base} = {x.base}[a1, a1:]" for x in sorted(rows, key=str)]
    L += [f"            row_{s.name}_next = {s.name}_next[a1, a1:]" for s in states]
    L += ["            for t in range(n - a1):"]
    body, values = _cse_block([u.rhs.xreplace(rows).subs(a2, a1 + t) for u in rules], "                ")
    L += body
    for s, v in zip(states, values):
        L += [f"                v_{s.name} = {v}", f"                row_{s.name}_next[t] = v_{s.name}",
              f"                bad_{s.name} += {_bad(s, f'v_{s.name}')}"]
    return L


def _all_pairs(state) -> list[str]:
    """Every ordered pair of a pair state without index symmetry."""
    body, (v,) = _cse_block([state.rules[0].rhs], "            ")
    return (["    for a1 in range(n):", "        for a2 in range(n):"] + body
            + [f"            v = {v}", f"            {state.name}_next[a1, a2] = v",
               f"            bad_{state.name} += {_bad(state, 'v')}"])


def _diagonal_and_pairs(state) -> list[str]:
    """A symmetric pair state whose diagonal ("aa") and off-diagonal ("a<b") entries have
    their own rules (G1: the coincident-sample form of its derivatives)."""
    rules = {u.pattern: u for u in state.rules}
    name = state.name
    body, (vd,) = _cse_block([rules["aa"].rhs], "        ")
    L = ["    for a1 in range(n):"] + body + [f"        g = {vd}", f"        {name}_next[a1, a1] = g",
                                          f"        bad_{name} += {_bad(state, 'g')}"]
    body, (vo,) = _cse_block([rules["a<b"].rhs], "            ")
    L += ["        for a2 in range(a1 + 1, n):"] + body
    L += [f"            g = {vo}", f"            {name}_next[a1, a2] = g", f"            {name}_next[a2, a1] = g",
          f"            bad_{name} += {_bad(state, 'g')}"]
    return L


def _quadruple_orbits(state) -> list[str]:
    """One entry per orbit of quadruples under the state's symmetry group (the orbit
    representatives ``reps_<name>`` are computed once per run by ``_orbit_representatives``),
    written to every image in the orbit."""
    a = sample_indices
    name = state.name
    body, (v,) = _cse_block([state.rules[0].rhs], "        ")
    L = [f"    for q in range(reps_{name}.shape[0]):"]
    L += [f"        {a[k]} = reps_{name}[q, {k}]" for k in range(4)]
    L += body + [f"        v = {v}", f"        bad_{name} += {_bad(state, 'v')}"]
    for g in state.group:
        L.append(f"        {name}_next[{', '.join(str(a[g[k]]) for k in range(4))}] = v")
    return L


def _group_table(state) -> str:
    return _table(f"_GROUP_{state.name}", [list(g) for g in state.group])


def _orbit_function(plan: KernelPlan) -> list[str]:
    """``_orbit_representatives(n, group)``: the lexicographically smallest quadruple of each
    orbit under the permutations ``group`` (rows of index positions), in order."""
    if not any(s.loop == "quadruple-orbits" for s in plan.states):
        return []
    L = [_group_table(s) for s in plan.states if s.loop == "quadruple-orbits"]
    L += ["", "", "def _orbit_representatives(n, group):",
          '    """Quadruples (a1, a2, a3, a4), in lexicographic order, that no permutation in group',
          "    (rows of index positions) maps to a smaller one: one per orbit.  Plain numpy, once per",
          '    run (nothing to compile), O(n^3) memory per first index."""',
          "    rest = np.indices((n, n, n)).reshape(3, -1).T",
          "    out = []",
          "    for a1 in range(n):",
          "        idx = np.empty((rest.shape[0], 4), dtype=np.int64)",
          "        idx[:, 0] = a1",
          "        idx[:, 1:] = rest",
          "        key = ((idx[:, 0] * n + idx[:, 1]) * n + idx[:, 2]) * n + idx[:, 3]",
          "        keep = np.ones(len(idx), dtype=np.bool_)",
          "        for g in group:",
          "            img = idx[:, g]",
          "            keep &= key <= ((img[:, 0] * n + img[:, 1]) * n + img[:, 2]) * n + img[:, 3]",
          "        out.append(idx[keep])",
          "    return np.ascontiguousarray(np.concatenate(out))", "", ""]
    return L


_LOOP_EMITTERS = {"all-pairs": _all_pairs, "diagonal-and-pairs": _diagonal_and_pairs,
                  "quadruple-orbits": _quadruple_orbits}


def _step_function(plan: KernelPlan) -> list[str]:
    """``_step``: one layer of every state's update rules, each loop shape emitted by its
    emitter (:data:`codegen.lower.LOOPS`), chosen by index pattern and symmetry."""
    states = [s.name for s in plan.states]
    atoms = [a.name for a in plan.atoms] + [q.name for q in plan.quads]
    reps = [f"reps_{s.name}" for s in plan.states if s.loop == "quadruple-orbits"]
    args = states + atoms + reps + [p.name for p in _PARAMS] + [f"{s}_next" for s in states]
    L = [_JIT_PARALLEL, f"def _step({', '.join(args)}):",
         '    """One layer of the update rules (each distinct entry once; symmetric pair states:',
         '    upper triangle).',
         "",
         f"    Returns the number of bad new entries of {', '.join(states)}: the kernel beyond 1e300 or",
         '    not finite (overflow), the others not finite (counted where they are computed, so the',
         '    checks cost no extra pass over the arrays)."""',
         "    n = K.shape[0]"]
    L += [f"    bad_{s} = 0" for s in states]
    pairs = [s for s in plan.states if s.loop == "symmetric-pairs"]
    if pairs:
        L += _symmetric_pairs(pairs)
    for s in plan.states:
        if s.loop != "symmetric-pairs":
            L += _LOOP_EMITTERS[s.loop](s)
    L.append(f"    return ({', '.join(f'bad_{s}' for s in states)}{',' if len(states) == 1 else ''})")
    return L + ["", ""]


def _initial_function(plan: KernelPlan) -> list[str]:
    """``initial_state(gram, C_b, C_W, lambda_b, lambda_W)``: the layer-1 tensors from the
    declarations' initial conditions (plain numpy: entry-wise in the input Gram matrix)."""
    a1, a2 = sample_indices[:2]
    gram = sp.IndexedBase("gram")
    p = _printer()
    L = ["def initial_state(gram, C_b, C_W, lambda_b, lambda_W):",
         '    """Layer-1 values of the states (declared initial conditions), in STATES order."""',
         "    n = gram.shape[0]", "    out = []"]
    for s in plan.states:
        expr = s.initial
        if expr.has(gram):
            if s.rank != 2 or any(x.base != gram or x.indices != (a1, a2) for x in expr.atoms(sp.Indexed)):
                raise ValueError(f"initial condition of {s.name} must be entry-wise in gram[a1, a2]")
            gsym = sp.Symbol("gram")
            L.append(f"    out.append(np.asarray({p.doprint(expr.xreplace({gram[a1, a2]: gsym}))}, "
                     "dtype=np.float64) + np.zeros((n, n)))")
        else:
            L.append(f"    out.append(np.full(({', '.join(['n'] * s.rank)},), {p.doprint(expr)}, dtype=np.float64))")
    L += ["    return tuple(out)", "", ""]
    return L


_RUN_DOC = [
    '    """Layers 1..depth (depth = len(C_b)) from the layer-1 states init: layer l+1 of state',
    "    X is stored at index l % nb of its array in states, where nb = states[0].shape[0] is",
    "    depth (all layers) or 2 (the last).  States and their order: STATES.",
    "",
    "    params = (C_b, C_W, lambda_b, lambda_W, r), arrays over layers (index l: layer l+1).",
    "    Returns (status, layer): status 0 ok; 1 kernel not finite (overflow); 2 a sample with",
    "    K_aa <= 0; 3, 4, ...: the state STATUS names is not finite; layer is the 1-based layer",
    "    where it happened.  progress, if given, is called as progress(layer, depth) after each",
    "    layer.  parallel=False runs the serial twins of the parallel kernels (small problems:",
    "    numba compiles only the variant that is called, and a serial one compiles faster).",
    "",
    "    Plain Python on purpose: it only sequences the compiled kernels, and no compiled",
    "    function calls a parallel one.  numba names the parallel loops of a function by",
    "    object hash, so a cached function linking two parallel callees that were compiled",
    "    in different processes (concurrent first use) can call the wrong loop body and",
    "    crash, and the crash is then cached.",
    '    """',
]


def _layer_body(plan: KernelPlan, kernel: dict, indent: str, fail=None) -> list[str]:
    """One layer l -> l + 1 of the layer loop (states at index i -> j): atoms, mirrors,
    four-point atoms, the update step and its checks, calling the kernels named in
    ``kernel`` ("atoms", "step", "mirror", "quad"); shared by ``run_layers`` and the
    compiled pair sub-problems.  ``fail(code, layer)`` gives the lines that end the loop
    on a failure (default: return code, layer)."""
    fail = fail or (lambda code, layer: [f"return {code}, {layer}"])
    states = [s.name for s in plan.states]
    atoms = [a.name for a in plan.atoms]
    triangular = triangular_layers(plan)
    L = [f"{indent}{kernel['atoms']}(K[i], flags, {', '.join(atoms)})"]
    if not triangular:
        L += [f"{indent}{kernel['mirror']}({a.name})" for a in plan.atoms if a.rank == 2 and a.symmetric]
    atom_args = list(atoms)
    if plan.quads:
        L.append(f"{indent}Q4 = {kernel['quad']}(K[i], flags, multisets)")
    for k, q in enumerate(plan.quads):
        L.append(f"{indent}{q.name} = Q4[{k}]")
        atom_args.append(q.name)
    reps = [f"reps_{s.name}" for s in plan.states if s.loop == "quadruple-orbits"]
    args = ([f"{s}[i]" for s in states] + atom_args + reps
            + ["C_b[l + 1]", "C_W[l + 1]", "lambda_b[l + 1]", "lambda_W[l + 1]", "r[l + 1]"]
            + [f"{s}[j]" for s in states])
    L.append(f"{indent}bad = {kernel['step']}({', '.join(args)})")
    if not triangular:
        L += [f"{indent}{kernel['mirror']}({s.name}[j])" for s in plan.states if s.loop == "symmetric-pairs"]
    checks = [(f"bad[{k}]", s.status) for k, s in enumerate(plan.states) if not s.bounded]
    checks += [("bad[0]", 1), ("not _positive_diagonal(K[j])", 2)]
    for test, code in checks:
        L += [f"{indent}if {test}:"] + [f"{indent}    {line}" for line in fail(code, "l + 2")]
    return L


def _run_function(plan: KernelPlan) -> list[str]:
    """The plain-Python layer loop ``run_layers(init, params, states, flags, progress)``.

    Symmetric pair quantities are computed on the upper triangle and mirrored here:
    per layer when an update reads them freely, otherwise once at the end
    (:func:`triangular_layers`).  ``_step`` counts the non-finite entries it writes, so
    the overflow checks are free; the first layer's kernel and the variances (O(N_D))
    are checked with numpy here.
    """
    states = [s.name for s in plan.states]
    pair_states = [s.name for s in plan.states if s.loop == "symmetric-pairs"]
    comma = "," if len(states) == 1 else ""
    L = ["def run_layers(init, params, states, flags, progress=None, parallel=True):"]
    L += _RUN_DOC
    kernels = ["atoms", "step", "mirror"] + (["quad"] if plan.quads else [])
    names = {"atoms": "_atoms", "step": "_step", "mirror": "_mirror_upper", "quad": "_quad"}
    L += [f"    {', '.join(f'{k}_kernel' for k in kernels)} = (",
          f"        ({', '.join(names[k] for k in kernels)}) if parallel",
          f"        else ({', '.join(names[k] + SERIAL for k in kernels)}))"]
    L += [f"    {', '.join(states)}{comma} = states", f"    {', '.join(f'init_{s}' for s in states)}{comma} = init",
          "    C_b, C_W, lambda_b, lambda_W, r = params",
          "    depth = C_b.shape[0]", "    nb = K.shape[0]", "    n = init_K.shape[0]"]
    L += [f"    {s}[0] = init_{s}" for s in states]
    L += ["    if not np.all(np.abs(init_K) <= 1e300):   # also false for nan", "        return 1, 1",
          "    if not _positive_diagonal(init_K):", "        return 2, 1"]
    L += [f"    reps_{s.name} = _orbit_representatives(n, _GROUP_{s.name})"
          for s in plan.states if s.loop == "quadruple-orbits"]
    if plan.quads:
        L.append("    multisets = _multisets(np.int64(n))")
    # atom buffers are allocated once (fresh pages cost as much as computing closed atoms)
    L += [f"    {a.name} = np.empty({'(n, n)' if a.rank == 2 else 'n'})" for a in plan.atoms]
    L += ["    for l in range(depth - 1):", "        i, j = l % nb, (l + 1) % nb"]
    L += _layer_body(plan, {k: f"{k}_kernel" for k in ("atoms", "step", "mirror", "quad")}, "        ")
    L += ["        if progress is not None:", "            progress(l + 2, depth)"]
    if triangular_layers(plan):
        L += ["    for s in range(nb):   # the layers were computed upper-triangular"]
        L += [f"        mirror_kernel({s}[s])" for s in pair_states]
    L += ["    return 0, 0", ""]
    return L


def _statements(lines: list[str]):
    """Top-level statements of the source ``lines``: (first line, end line, names defined
    or None, names read), 0-based, end exclusive.  The comment and blank lines above a
    statement go with it; indented comment lines right below one continue it."""
    tree = ast.parse("\n".join(lines))
    out = []
    prev_end = 0
    for node in tree.body:
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno]) - 1
        while out and prev_end < start and lines[prev_end][:1] == " " and lines[prev_end].lstrip()[:1] == "#":
            prev_end += 1
            out[-1][1] = prev_end
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined = {node.name}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        else:
            defined = None
        read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        out.append([prev_end, node.end_lineno, defined, read])
        prev_end = node.end_lineno
    if out:
        out[-1][1] = len(lines)
    return out


def used_definitions(lines: list[str], roots) -> list[str]:
    """``lines`` without the top-level definitions that nothing reachable from the names
    ``roots`` reads (with their comments): numerical helpers appear only in modules that
    use them, so a closed-form module carries no quadrature code.

    Examples
    --------
    >>> src = ["A = 1", "", "def f():", "    return A", "", "# unused", "def g():", "    return 2"]
    >>> used_definitions(src, {"f"})
    ['A = 1', '', 'def f():', '    return A']
    """
    statements = _statements(lines)
    defined_by = {}
    for k, (_, _, defined, _) in enumerate(statements):
        for name in defined or ():
            defined_by.setdefault(name, []).append(k)
    keep = {k for k, st in enumerate(statements) if st[2] is None}
    todo = sorted(set(roots) | {n for k in keep for n in statements[k][3]})
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for k in defined_by.get(name, ()):
            if k not in keep:
                keep.add(k)
                todo.extend(sorted(statements[k][3] - seen))
    out = []
    for k in sorted(keep):
        start, end = statements[k][:2]
        out += lines[start:end]
    return out


#: Functions of a generated module that are plain Python (they sequence the compiled kernels
#: or run once per call in numpy); every other function is ``numba.njit(cache=True)``.
PLAIN_PYTHON = ("run_layers", "initial_state", "_orbit_representatives") + TILE_ROOTS + PAIR_ROOTS

#: Suffix of the serial twin of a parallel kernel.
SERIAL = "_serial"


def serial_twins(lines: list[str]) -> list[str]:
    """``lines`` with a serial twin after every top-level ``parallel=True`` function: the same
    body under ``<name>_serial`` without ``parallel=True`` (numba runs ``prange`` as
    ``range`` then).  numba compiles a function on its first call, so a process that only
    runs small problems never compiles the parallel variants (seconds each).

    Examples
    --------
    >>> out = serial_twins([_JIT_PARALLEL, "def f(a):", "    return a", ""])
    >>> out[4:6]
    ['@numba.njit(cache=True)', 'def f_serial(a):']
    """
    out = []
    for start, end, defined, _ in _statements(lines):
        block = lines[start:end]
        out += block
        if _JIT_PARALLEL in block and defined and len(defined) == 1:
            name = next(iter(defined))
            twin = [_JIT if line == _JIT_PARALLEL else line for line in block]
            twin = [line.replace(f"def {name}(", f"def {name}{SERIAL}(", 1) for line in twin]
            out += [""] + twin if block[-1:] != [""] else twin
    return out


def render_module(plan: KernelPlan, command: str = DEFAULT_COMMAND) -> str:
    """The module text for ``plan`` (deterministic; ``command`` goes into the header).

    Everything after the metadata keeps only the definitions ``run_layers`` needs
    (:func:`used_definitions`).
    """
    lines = _header(plan, command)
    lines += _metadata(plan)
    body = _factors(plan)
    body += NUMERICS.rstrip("\n").split("\n") + ["", ""]
    body += _closed(plan)
    body += _atoms_function(plan)
    body += _quad_function(plan)
    body += _orbit_function(plan)
    body += _step_function(plan)
    body += _initial_function(plan)
    body += _run_function(plan)
    roots = {"run_layers", "initial_state"}
    if triangular_layers(plan):
        body += tile_functions(plan, _cse_block, _bad)
        roots |= set(TILE_ROOTS)
    else:
        body += pair_functions(plan, _printer(), _layer_body)
        roots |= set(PAIR_ROOTS)
    body = used_definitions(serial_twins(body), roots)
    while body and not body[0].strip():
        body.pop(0)
    lines += [""] + body
    lines += ["", '__all__ = ["run_layers", "initial_state", "SIGNATURE", "STATES", "STATUS", "QUANTITIES", '
              '"OBSERVABLES", "ATOM_METHODS"]']
    text = "\n".join(lines).rstrip("\n") + "\n"
    text.encode("ascii")  # generated modules are ASCII only
    return text
