"""A copy of examples/WORK-QUEUE.md, so 'robe demo' works from an installed wheel too
(tests/cron check that it matches the example)."""

QUEUE = """# Work queue — the wizard fraternity

Tasks for Ezra (scribe, archivist), Allegro (tempo and dispatch) and Allegro-Primus
(student, autonomous). robe dispatches PENDING tasks to the wizard named in Assignee and
changes only the status words; edit everything else freely.

Three styles can be mixed: a section per task, a checklist, a table.

## P0 — Critical

### TASK-001: Summarise last night's gateway logs
- Status: PENDING
- Assignee: ezra
- Tags: logs, gateway

Read the api_server logs of the three gateways for the last 24 hours. Write a short
summary: how many requests, the three most frequent errors, and what to do about each.

### TASK-002: Draft the Nostr gateway design note
- Status: PENDING
- Assignee: allegro
- Depends: TASK-001
- Tags: nostr, research

Telegram goes away for sovereign wizards. Using Ezra's log summary as the current state,
write a one-page design for a Nostr gateway: relays, keys, and how a wizard answers a
mention. List the open questions at the end.

## P1 — This week

- [ ] TASK-003 PENDING Write the weekly digest of completed tasks
  Assignee: ezra

  Collect every task completed this week from the progress reports and write a digest
  a person can read in two minutes.
- [ ] TASK-004 P1 PENDING Practise: explain the Robed Architecture in five sentences
  - Assignee: allegro-primus
  - Tags: study

  Explain Robed, Unrobed, Lobster and Dead to a new wizard, in five sentences.
- [x] TASK-005 P1 COMPLETE Choose the port for the next wizard
  - Assignee: allegro

## P2 — Housekeeping

| ID | Status | Task | Assignee | Tags |
|----|--------|------|----------|------|
| TASK-006 | PENDING | List the five largest files in the shared codebase | allegro-primus | study |
| TASK-007 | PENDING | Check that each wizard's home has its own memories folder | ezra | audit |
| TASK-008 | BLOCKED | Rotate the Gitea access token (waiting for the sovereign) | allegro | security |

## Notes

Examples of what is *not* a task, so robe leaves it alone:

```markdown
### TASK-999: a task inside a code block is only an example
```

<!-- - [ ] TASK-998 PENDING a commented-out task is not dispatched -->

> ### TASK-997: quoted from another queue — not a task here
"""
