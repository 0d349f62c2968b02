"""The agent's own errors, one tree (as `sync.errors` and `player.errors` have theirs)::

    AgentError
     ├── StateDirError   the state folder is missing or unusable (`status`, start-up)
     ├── AlreadyRunning  another agent holds this state folder's lock
     ├── StoreError      the SQLite store refused a write (full disk, broken file)
     ├── PrivilegedError the root helper for reboot and display power could not be asked
     │                   (agent.privileged)
     ├── ControlError    the running agent could not be asked through its control socket,
     │                   or could not answer (agent.control: `signage-agent screenshot`)
     └── RestartRequested a `restart-agent` command asked the daemon to exit (status 75)

At start-up an `AgentError` is one log line and a non-zero exit; at run time it is logged
and the daemon carries on with what it has.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on its own account."""


class StateDirError(AgentError):
    """The state folder does not exist or cannot be used."""


class AlreadyRunning(AgentError):
    """Another agent process runs on the same state folder."""


class StoreError(AgentError):
    """The store could not write; what it held before is unchanged."""


class PrivilegedError(AgentError):
    """The privileged helper could not be reached, or gave no answer the agent understands."""


class ControlError(AgentError):
    """The running agent could not be asked through its control socket, or could not answer."""


class RestartRequested(AgentError):
    """The daemon ends so that systemd starts it again (`agent.commands.RESTART_EXIT_STATUS`)."""


__all__ = [
    "AgentError",
    "AlreadyRunning",
    "ControlError",
    "PrivilegedError",
    "RestartRequested",
    "StateDirError",
    "StoreError",
]
