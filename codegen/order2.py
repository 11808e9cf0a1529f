"""Stage *render, order 2*: an order-1/n² :class:`~derive.flow.Flow` → numba module text.

The flows of ``flow(act, order=2)`` carry the derivation engine's rules for K, V, G1, G2, V1 and the
six-point vertex U (:func:`derive.observables.order2`; docs/derivation.md).  Their atoms are the
engine's (:func:`derive.recursions.stein_slots`): ⟨Π_t ∂^{k_t}σ(z_{α_t})⟩ over 2, 4 or 6 slots,
whose entry at given samples is, by the share convention, a Gaussian expectation over the distinct
samples of Π_groups (σ^{m})^{(k)}/m^k (m slots of one sample, k derivatives among them).  The module
holds what depends on the activation and on the rules:

* ``factor_values(j, x, out)``: the slot function number j of :data:`FACTORS` at the points x —
  for a smooth σ (σ^m)^{(k)}/m^k, differentiated symbolically; for σ kinked at z = 0 only the
  powers σ^m (their derivatives are moved onto the Gaussian density by the runtime:
  :mod:`codegen.order2_runtime`);
* ``next_<name>(n, <what its rule reads>, C_b, C_W, r, out)``: the rule of each statistic over
  every entry of its tensor (rank 2, 4 or 6), printed with canonical CSE; it returns how many
  entries are not finite.

The runtime fills the atoms by quadrature (the policy is stated there) and calls the rules layer by
layer.  Deterministic text: tables in canonical order, CSE canonical, ASCII.
"""

from __future__ import annotations

import sympy as sp

from derive.activations import kinked_at_zero
from derive.flow import Flow
from derive.recursions import stein_slots
from derive.symbols import z

from .render import _cse_block, module_header, source_text
from .printer import NumbaPrinter

__all__ = ["render_order2", "ORDER2_FORMAT", "factor_table", "rule_arguments", "is_order2"]

#: Bumped whenever the emitted order-2 format changes (part of the cache key).
ORDER2_FORMAT = 1
_SAMPLES = sp.symbols("a1:7", integer=True, nonnegative=True)
_JIT = "@numba.njit(cache=True)"


def is_order2(f: Flow) -> bool:
    """Whether ``f`` carries order-1/n² statistics (and is compiled by this stage)."""
    return any(d.order >= 2 for d in f.recursion.declarations)


def _blocks(ks: tuple[int, ...]):
    """Every (m, k) a coincidence pattern of slots with derivative counts ``ks`` can produce."""
    from derive.recursions import set_partitions
    out = set()
    for rgs in set_partitions(len(ks)):
        for v in range(max(rgs) + 1):
            group = [t for t in range(len(ks)) if rgs[t] == v]
            out.add((len(group), sum(ks[t] for t in group)))
    return out


def factor_table(f: Flow) -> tuple[tuple[int, int], ...]:
    """The slot functions the module evaluates, sorted: (m, k) = (σ^m)^{(k)}/m^k for a smooth σ;
    for σ kinked at z = 0 the powers (m, 0) only."""
    needed = set()
    for atom in f.recursion.atoms:
        needed |= _blocks(stein_slots(atom.name))
    if kinked_at_zero(f.activation):
        needed = {(m, 0) for m, _ in needed}
    return tuple(sorted(needed))


def rule_arguments(f: Flow, name: str) -> tuple[str, ...]:
    """The layer-ℓ arrays the rule of ``name`` reads: states in declaration order, then atoms in the
    flow's atom order."""
    (update,) = f.recursion.updates_of(name)
    read = {str(x.base.label) for x in update.rhs.atoms(sp.Indexed)}
    states = [d.name for d in f.recursion.declarations if d.name in read]
    atoms = [a.name for a in f.recursion.atoms if a.name in read]
    return tuple(states + atoms)


def _factor_function(f: Flow, table) -> list[str]:
    sigma = f.activation.bound_expr
    printer = NumbaPrinter()
    L = [_JIT, "def factor_values(j, x, out):",
         '    """out[i] = slot function j of FACTORS at x[i]."""']
    for j, (m, k) in enumerate(table):
        expr = sp.diff(sigma**m, z, k) / sp.Integer(m) ** k if k else sigma**m
        L.append(f"    {'if' if j == 0 else 'elif'} j == {j}:")
        L.append("        for i in range(x.shape[0]):")
        L.append("            z = x[i]")
        L.append(f"            out[i] = {printer.doprint(expr)}")
    L.append("    return out")
    return L


def _rule_function(f: Flow, name: str) -> list[str]:
    (update,) = f.recursion.updates_of(name)
    rank = len(update.lhs.indices)
    args = rule_arguments(f, name)
    indent = "    " * (rank + 1)
    body, (value,) = _cse_block([update.rhs], indent)
    L = [_JIT, f"def next_{name}(n, {', '.join(args)}, C_b, C_W, r, out):",
         f'    """{name}_next over every entry (the derived rule); returns the number of non-finite entries."""',
         "    bad = 0"]
    for level in range(rank):
        L.append("    " * (level + 1) + f"for {_SAMPLES[level]} in range(n):")
    L += body
    L.append(f"{indent}v = {value}")
    L.append(f"{indent}out[{', '.join(str(s) for s in _SAMPLES[:rank])}] = v")
    L.append(f"{indent}if not math.isfinite(v):")
    L.append(f"{indent}    bad += 1")
    L.append("    return bad")
    return L


def render_order2(f: Flow, command: str) -> str:
    """The module text of the order-2 flow ``f`` (``command`` goes into the header)."""
    act = f.activation
    name = source_text(act.name, "activation name")
    table = factor_table(f)
    decls = f.recursion.declarations
    lines = module_header(act, command, f"observables={tuple(f.observables)!r}, order=2", f.signature(),
                          f"order2-format: {ORDER2_FORMAT}",
                          ["order-1/n^2 recursions of {name} (codegen.order2).", "",
                           "Self-contained generated module (imports only math, numpy and numba): the slot functions of",
                           "the Gaussian atoms (factor_values) and the derived rules (next_<name>); codegen.order2_runtime",
                           "integrates the atoms and runs the layers."])
    lines += [
        f"SIGNATURE = {f.signature()!r}",
        f"ORDER2_FORMAT = {ORDER2_FORMAT}",
        f"ACTIVATION = {name!r}",
        f"SIGMA = {source_text(sp.sstr(act.bound_expr), 'activation expression')!r}",
        f"OBSERVABLES = {tuple(f.observables)!r}",
        f"QUANTITIES = {tuple(f.quantities)!r}",
        f"STATES = {tuple((d.name, d.rank) for d in decls)!r}",
        f"KINKED = {kinked_at_zero(act)!r}",
        "#: Engine atoms: name -> derivative count of each slot.",
        "ATOMS = (" + "".join(f"({a.name!r}, {stein_slots(a.name)!r}), " for a in f.recursion.atoms) + ")",
        "#: Slot functions (m, k): (sigma^m)^(k) / m^k (kinked sigma: the powers sigma^m).",
        f"FACTORS = {table!r}",
        "#: What each rule reads (states, then atoms).",
        "RULE_ARGUMENTS = {" + ", ".join(f"{d.name!r}: {rule_arguments(f, d.name)!r}" for d in decls
                                         if f.recursion.updates_of(d.name)) + "}",
        "",
        "",
    ]
    lines += _helpers(f, table)
    lines += _factor_function(f, table) + ["", ""]
    for d in decls:
        lines += _rule_function(f, d.name) + ["", ""]
    text = "\n".join(lines).rstrip("\n") + "\n"
    text.encode("ascii")
    return text


def _helpers(f: Flow, table) -> list[str]:
    """The numerics helpers the printed slot functions call (``_heaviside``, ``_pos``, …), verbatim
    from codegen/numerics_template.py: only the definitions used."""
    from .render import NUMERICS, used_definitions
    sigma = f.activation.bound_expr
    printer = NumbaPrinter()
    printed = " ".join(printer.doprint(sp.diff(sigma**m, z, k)) for m, k in table)
    names = {n for n in ("_heaviside", "_sign", "_pos", "_clip1", "_asin", "_acos") if n + "(" in printed}
    if not names:
        return []
    # used_definitions keeps the template's top-level statements too; the slot functions need only the
    # decorated definitions it reaches (a line at column 0 other than a decorator or def ends one)
    out, inside = [], False
    for line in used_definitions(NUMERICS.rstrip("\n").split("\n"), names):
        if line.startswith(("@numba.njit", "def ")):
            inside = True
        elif line and not line.startswith((" ", "#")):
            inside = False
        if inside:
            out.append(line)
    return out + ["", ""]

