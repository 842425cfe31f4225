"""The checks across a queue's tasks: duplicate IDs, missing dependencies, dependency
cycles, unknown assignees; and the next free ID for a new task."""

from __future__ import annotations

from .model import DEFAULT_PRIORITY, Problem, Snapshot, Task


def judge(tasks: list[Task], bad: set[int], problems: list[Problem], *, text: str, path: str, newline: str,
          default_priority: str = DEFAULT_PRIORITY, known_assignees=None, basis=None) -> Snapshot:
    """The parse of a whole text: ``tasks`` in line order, ``bad`` the id() of those their own
    problems leave out; the checks across tasks leave out more and add their problems."""
    ids = [t.id for t in tasks]
    all_ids = frozenset(ids)
    _duplicates(tasks, bad, problems, path, all_ids)
    for t in tasks:
        for dep in t.depends:
            if dep not in all_ids:
                problems.append(Problem(path, t.line, f"{t.id} depends on {dep}, which is not in the queue",
                                        f"add {dep} or remove it from {t.id}'s Depends", t.id, code="depends"))
                bad.add(id(t))
        if known_assignees is not None and t.assignee and t.assignee not in known_assignees:
            problems.append(Problem(path, t.line, f"{t.id} is assigned to '{t.assignee}', which is not a wizard "
                                    "of this fleet", "known wizards: " + (", ".join(sorted(known_assignees)) or "none"),
                                    t.id, code="assignee"))
            bad.add(id(t))
    # Only a task that depends on others can be part of a cycle.
    graph = {t.id: t.depends for t in tasks if t.depends and id(t) not in bad}
    found = cycles(graph)
    first: dict[str, Task] = {}
    for t in tasks if found else ():
        first.setdefault(t.id, t)
    for cycle in found:
        for tid in cycle:
            k = cycle.index(tid)
            loop = " -> ".join(cycle[k:] + cycle[:k] + [tid])
            problems.append(Problem(path, first[tid].line, f"{tid} is part of a dependency cycle: {loop}",
                                    "remove one of these Depends so the chain has a start", tid, code="cycle"))
            bad.add(id(first[tid]))
    problems.sort(key=lambda p: (p.line, p.code))
    usable, rejected = (tuple(tasks), ()) if not bad else (tuple([t for t in tasks if id(t) not in bad]),
                                                          tuple([t for t in tasks if id(t) in bad]))
    return Snapshot(path, text, usable, tuple(problems), bom=text.startswith("\ufeff"), newline=newline,
                    all_ids=all_ids, rejected=rejected, default_priority=default_priority,
                    basis=basis)


def _duplicates(tasks: list[Task], bad: set[int], problems: list[Problem], path: str, all_ids) -> None:
    """A task ID written twice: every copy is left out until one is renamed."""
    if len(all_ids) == len(tasks):
        return
    groups: dict[str, list[Task]] = {}
    for t in tasks:
        groups.setdefault(t.id, []).append(t)
    free = next_free_id(all_ids)
    for tid, group in groups.items():
        if len(group) > 1:
            for t in group[1:]:
                problems.append(Problem(path, t.line, f"{tid} is defined twice (first at line {group[0].line}); "
                                        "neither copy is used until one is renamed",
                                        f"give one of them a new ID, for example {free}", tid, code="duplicate"))
            bad.update(map(id, group))


def cycles(graph: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """Each dependency cycle once (Tarjan's strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, it = work[-1]
            nxt = next((n for n in it if n in graph and (n not in index or n in on)), None)
            if nxt is not None:
                if nxt in index:  # on the stack: a way back
                    low[node] = min(low[node], index[nxt])
                else:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph[node]:
                    out.append(_in_order(comp, graph))
    return out


def _in_order(comp: list[str], graph) -> list[str]:
    """The members of a cycle in dependency order, starting from the smallest ID."""
    members = set(comp)
    order = [min(comp)]
    while True:
        nxt = next((d for d in graph[order[-1]] if d in members and d not in order), None)
        if nxt is None:
            return order
        order.append(nxt)


def next_free_id(ids, prefix: str | None = None) -> str:
    """The next unused ID with the file's most common prefix (or ``prefix``) and number width."""
    counts: dict[str, int] = {}
    best: dict[str, tuple[int, int]] = {}
    for tid in ids:
        p, _, num = tid.rpartition("-")
        counts[p] = counts.get(p, 0) + 1
        # The highest number; between equal numbers (T-7 and T-007) the wider writing, so the
        # answer never depends on the set's order.
        best[p] = max(best.get(p, (-1, 0)), (int(num), len(num)))
    if prefix is None:
        prefix = max(counts, key=lambda p: (counts[p], p)) if counts else "TASK"
    top, width = best.get(prefix, (0, 3))
    return f"{prefix}-{top + 1:0{width}d}"
