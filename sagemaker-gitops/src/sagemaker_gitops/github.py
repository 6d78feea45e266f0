"""GitHub's REST API, the little this project needs: pull requests (promote) and one issue (drift).

Plain urllib: two endpoints do not justify a client library and its dependencies.
"""

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import MlopsError
from .repository import git


def credentials() -> tuple[str, str] | None:
    """(token, "owner/name") when GITHUB_TOKEN and GITHUB_REPOSITORY are set (Actions sets the latter)."""
    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    return (token, repository) if token and repository else None


def push(token: str, *args: str, repo: Path | None = None) -> None:
    """`git push *args`, the token authenticating this one command: checkouts keep no credentials
    (the workflows check out with persist-credentials: false), and the push runs no hooks, to
    which git would hand the token (-c settings reach every hook in GIT_CONFIG_PARAMETERS)."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    header = f"http.https://github.com/.extraheader=AUTHORIZATION: basic {basic}"
    git("-c", f"core.hooksPath={os.devnull}", "-c", header, "push", *args, repo=repo)


def github(token: str, method: str, path: str, payload: dict | None = None):
    """One GitHub REST call (GITHUB_API_URL, as Actions sets it, else api.github.com)."""
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    request = urllib.request.Request(
        api + path,
        method=method,
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise MlopsError(f"GitHub {method} {path}: HTTP {error.code}: {detail}") from None
    except urllib.error.URLError as error:
        raise MlopsError(f"cannot reach GitHub at {api}: {error.reason}") from None


def open_or_update_pull_request(
    repository: str, token: str, branch: str, base: str, title: str, body: str
) -> str:
    """The pull request from `branch`, updated if one is open, created otherwise; its URL."""
    owner = repository.split("/")[0]
    existing = github(token, "GET", f"/repos/{repository}/pulls?state=open&head={owner}:{branch}")
    if existing:
        number = existing[0]["number"]
        return github(token, "PATCH", f"/repos/{repository}/pulls/{number}", {"title": title, "body": body})[
            "html_url"
        ]
    created = github(
        token,
        "POST",
        f"/repos/{repository}/pulls",
        {"title": title, "body": body, "head": branch, "base": base},
    )
    return created["html_url"]


# Who opens the issues this project keeps: GITHUB_TOKEN's identity, which drift.yml runs with.
# An issue anybody else opens with the same title is theirs: never updated or closed here.
BOT = "github-actions[bot]"


def find_open_issue(token: str, repository: str, title: str) -> dict | None:
    """The open issue (not pull request) with exactly this title, opened by BOT, if any."""
    for page in range(1, 11):  # 1000 open issues is beyond any repository this serves
        query = f"state=open&creator={urllib.parse.quote(BOT)}&per_page=100&page={page}"
        issues = github(token, "GET", f"/repos/{repository}/issues?{query}")
        found = next((i for i in issues if _is_ours(i, title)), None)
        if found or len(issues) < 100:
            return found
    return None


def _is_ours(issue: dict, title: str) -> bool:
    # Filtered here as well as by `creator`: the title alone is anybody's to write.
    mine = (issue.get("user") or {}).get("login") == BOT
    return mine and issue["title"] == title and "pull_request" not in issue


def open_or_update_issue(token: str, repository: str, title: str, body: str) -> str:
    """One issue per title: updated while open, created otherwise; its URL."""
    existing = find_open_issue(token, repository, title)
    if existing:
        path = f"/repos/{repository}/issues/{existing['number']}"
        return github(token, "PATCH", path, {"body": body})["html_url"]
    return github(token, "POST", f"/repos/{repository}/issues", {"title": title, "body": body})["html_url"]


def close_issue(token: str, repository: str, title: str, comment: str) -> str:
    """Close the open issue with this title, saying why; its URL ("" when none was open)."""
    existing = find_open_issue(token, repository, title)
    if not existing:
        return ""
    path = f"/repos/{repository}/issues/{existing['number']}"
    github(token, "POST", f"{path}/comments", {"body": comment})
    github(token, "PATCH", path, {"state": "closed", "state_reason": "completed"})
    return existing["html_url"]
