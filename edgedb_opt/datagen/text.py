"""Vocabulary, text builders and the growth-dashboard rows of :mod:`edgedb_opt.datagen`.

The words are chosen so that full-text searches for common study terms ("network",
"encryption", "database", "firewall", "kubernetes") hit many questions, and so that no
generated string needs JSON escaping (no quotes, no backslashes).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _words(text: str) -> tuple[str, ...]:
    """Split a ``|``-separated word list (newlines are separators too).

    >>> _words("network | load balancer | VPN tunnel")
    ('network', 'load balancer', 'VPN tunnel')
    """
    return tuple(w.strip() for w in text.replace("\n", "|").split("|") if w.strip())


def _exams(text: str) -> tuple[tuple[str, str, str | None, tuple[str, ...], float, int], ...]:
    out = []
    for line in text.strip().splitlines():
        code, name, vendor, topics, passing, minutes = (f.strip() for f in line.split("|"))
        out.append(
            (code, name, vendor or None, tuple(topics.split()), float(passing), int(minutes))
        )
    return tuple(out)


#: Exam catalogue: code, name, vendor (None = vendor-neutral), topics, passing score, minutes.
EXAMS = _exams("""
SAA-C03 | AWS Certified Solutions Architect - Associate | Amazon Web Services | cloud network security database | 72 | 130
SY0-701 | CompTIA Security+ | CompTIA | security network | 75 | 90
N10-009 | CompTIA Network+ | CompTIA | network | 72 | 90
AZ-104 | Microsoft Azure Administrator | Microsoft | cloud network | 70 | 100
CISSP | Certified Information Systems Security Professional | ISC2 | security project | 70 | 180
CCNA | Cisco Certified Network Associate | Cisco | network security | 82 | 120
CKA | Certified Kubernetes Administrator | CNCF | devops linux cloud | 66 | 120
PMP | Project Management Professional | PMI | project | 61 | 230
DP-300 | Administering Microsoft Azure SQL Solutions | Microsoft | database cloud | 70 | 100
XK0-005 | CompTIA Linux+ | CompTIA | linux security | 72 | 90
GCP-ACE | Google Associate Cloud Engineer | Google | cloud devops | 70 | 120
TA-003 | HashiCorp Terraform Associate | HashiCorp | devops cloud | 70 | 60
CEH | Certified Ethical Hacker | EC-Council | security network | 70 | 240
CS0-003 | CompTIA CySA+ | CompTIA | security | 75 | 165
DVA-C02 | AWS Certified Developer - Associate | Amazon Web Services | cloud devops database | 72 | 130
220-1101 | CompTIA A+ Core 1 | CompTIA | network linux | 75 | 90
AZ-900 | Microsoft Azure Fundamentals | Microsoft | cloud | 70 | 45
DOP-C02 | AWS Certified DevOps Engineer - Professional | Amazon Web Services | devops cloud | 75 | 180
SQL-FUND | Relational Database Fundamentals | | database | 65 | 60
ITF-PLUS | IT Fundamentals Practice Track | | network database security linux | 65 | 60
""")  # noqa: E501

TOPICS: dict[str, tuple[str, ...]] = {
    "network": _words("""
        network | subnet | VLAN | router | network switch | firewall | load balancer |
        DNS resolver | VPN tunnel | routing table | NAT gateway | proxy server |
        network interface | BGP session | wireless access point | network segment |
        DHCP server | TCP connection"""),
    "security": _words("""
        encryption key | encryption | TLS certificate | access policy | IAM role | MFA device |
        hash function | audit log | intrusion detection system | password vault |
        security group | public key | threat model | vulnerability scanner | SIEM rule |
        web application firewall | data loss prevention policy | zero trust gateway"""),
    "cloud": _words("""
        virtual machine | container | object storage bucket | autoscaling group |
        serverless function | availability zone | cloud region | managed database |
        CDN edge cache | message queue | instance profile | volume snapshot |
        service endpoint | cloud network"""),
    "database": _words("""
        database | database replica | database index | query planner | transaction log |
        database backup | read replica | schema migration | primary key | connection pool |
        SQL query | table partition | cache layer | stored procedure | database cluster"""),
    "linux": _words("""
        kernel module | shell script | file system | cron job | Linux process | systemd unit |
        package manager | log file | user account | SSH daemon | file permission |
        swap partition"""),
    "devops": _words("""
        CI pipeline | deployment | Kubernetes pod | Kubernetes cluster | Helm chart |
        Terraform module | build artifact | monitoring dashboard | alert rule | rollback plan |
        feature flag | container registry | service mesh"""),
    "project": _words("""
        project schedule | stakeholder register | risk register | work breakdown structure |
        change request | sprint backlog | budget baseline | quality audit |
        communication plan | scope statement | project charter | lessons learned register"""),
}
ALL_TOPICS: tuple[str, ...] = tuple(TOPICS)

VERBS = _words("""
    configure | secure | monitor | troubleshoot | migrate | encrypt | back up | scale | audit |
    isolate | optimize | restore | deploy | harden | replicate | document | validate | segment""")
ROLES = _words("""
    A network administrator | A security analyst | A database administrator |
    A cloud architect | A project manager | A junior developer | An operations engineer |
    A compliance officer | A systems administrator | A DevOps engineer |
    A help desk technician | A solutions architect""")
GOALS = _words("""
    with minimal downtime | at the lowest possible cost | without exposing data to the internet |
    to pass a compliance audit | after a ransomware incident | before the next release |
    across two regions | while keeping latency under 50 ms | for a team of remote workers |
    during peak traffic | so that encryption at rest is enforced |
    so the database stays available during a network outage""")
SYMPTOMS = _words("""
    intermittently | only during backups | after a certificate renewal | when traffic doubles |
    after a configuration change | for remote users only | every night at midnight |
    when the database failover happens""")
CONTEXTS = _words("""
    small office network | multi-tier web application | hybrid cloud deployment |
    regulated healthcare environment | global e-commerce platform | data center migration |
    zero trust architecture | microservices platform""")
SITES = _words("""
    one data center | two cloud regions | a branch office | three availability zones |
    a colocation facility | an edge network | a single rack | a hybrid campus network""")
ADJECTIVES = _words("""
    redundant | encrypted | least-privilege | stateless | managed | dedicated | default |
    automated | isolated | highly available""")
FACTS = _words("""
    limits the blast radius of a compromise | keeps traffic inside the private network |
    is the only option that preserves encryption end to end | scales automatically with demand |
    can be restored from a point-in-time backup | is evaluated before any other rule |
    reduces operational overhead | satisfies the requirement without new hardware |
    logs every change for later audit""")
TAGS = _words("""
    networking | security | encryption | cloud | database | linux | devops | project-management |
    troubleshooting | best-practices | exam-tip | scenario | hard | performance | compliance |
    high-availability""")
KEYS = ("A", "B", "C", "D", "E")

FIRST = _words("""
    Ava | Liam | Noah | Emma | Olivia | Mateo | Sofia | Yuki | Arjun | Priya | Chen | Wei |
    Fatima | Omar | Lucas | Mia | Ethan | Zara | Kofi | Amara | Diego | Elena | Hiro | Ines |
    Jonas | Leila | Marco | Nadia | Oscar | Rosa | Sven | Tariq | Uma | Victor | Wanjiru |
    Ximena | Yusuf | Zoe | Aiko | Bilal""")
LAST = _words("""
    Smith | Garcia | Kim | Patel | Nguyen | Muller | Rossi | Silva | Khan | Okafor | Johansson |
    Tanaka | Kowalski | Haddad | Novak | Dubois | Singh | Lopez | Ivanova | Mensah | Larsen |
    Moreau | Chen | Ali | Brown | Costa | Fischer | Sato | Mbeki | Ortiz""")
DOMAINS = ("example.com", "mail.example.org", "study.example.net", "corp.example.com")
TIMEZONES = _words("""
    UTC | America/New_York | America/Chicago | America/Los_Angeles | Europe/London |
    Europe/Berlin | Asia/Kolkata | Asia/Tokyo | Australia/Sydney | America/Sao_Paulo |
    Africa/Lagos""")
HANDLES = _words("""
    examprep_hq | cloudcert_daily | secplus_tips | netpro_notes | kube_quiz | pmp_pathway |
    dba_drills | linux_labs""")
GERUNDS = _words("""
    Designing | Implementing | Securing | Monitoring | Troubleshooting | Managing | Operating |
    Governing | Optimizing | Automating | Planning""")


def exam_rows(n: int, now: int) -> list[tuple[Any, ...]]:
    """``n`` exams from the catalogue (repeated with a ``-R1`` code suffix when it runs out).

    Columns: id, code, name, vendor, description, passing_score, time_limit_minutes,
    is_active (the last of five or more is retired), created_at.
    """
    rows = []
    for e in range(1, n + 1):
        code, name, vendor, topics, passing, minutes = EXAMS[(e - 1) % len(EXAMS)]
        code += f"-R{(e - 1) // len(EXAMS)}" if e > len(EXAMS) else ""
        about = None if e % 3 == 0 else f"Practice for {name}: {', '.join(topics)} topics."
        created = fmt_time(now - (900 - 7 * e) * 86_400)
        rows.append((e, code, name, vendor, about, passing, minutes, int(e != n or n < 5), created))
    return rows


def objective_rows(
    rng: random.Random, topics: Sequence[tuple[str, ...]], per_exam: int
) -> tuple[list[tuple[Any, ...]], list[list[int]]]:
    """Each exam's objectives: weighted domains, tasks under them, some sub-tasks.

    Args:
        topics: the topics of exam ``e`` at index ``e`` (index 0 unused).
    Returns:
        The rows (id, exam_id, parent_id, code, name, weight, sort_order) and, per exam, the
        ids questions may cite (tasks and sub-tasks; the domains if there are none).
    """
    rows: list[tuple[Any, ...]] = []
    leaves: list[list[int]] = [[]]
    for e in range(1, len(topics)):
        nd = max(2, min(6, per_exam // 5))
        raw = [rng.uniform(0.5, 1.5) for _ in range(nd)]
        parents: list[tuple[int, str, list[int]]] = []  # id, code, children so far
        for k in range(nd):
            oid, name = len(rows) + 1, objective_name(rng, topics[e])
            rows.append((oid, e, None, str(k + 1), name, round(raw[k] / sum(raw), 2), k + 1))
            parents.append((oid, str(k + 1), [0]))
        cited = []
        for k in range(per_exam - nd):
            sub = len(parents) > nd and rng.random() < 0.3
            pid, pcode, seq = pick(rng, parents[nd:]) if sub else parents[k % nd]
            seq[0] += 1
            oid, code = len(rows) + 1, f"{pcode}.{seq[0]}"
            rows.append((oid, e, pid, code, objective_name(rng, topics[e]), None, seq[0]))
            if not sub:
                parents.append((oid, code, [0]))
            cited.append(oid)
        leaves.append(cited or [p[0] for p in parents])
    return rows, leaves


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` at a quarter of the cost (the float path is uniform enough here)."""
    return seq[int(rng.random() * len(seq))]


def _noun(rng: random.Random, topics: tuple[str, ...]) -> str:
    # Mostly the exam's own topics, sometimes any topic: exams overlap in real life.
    pool = TOPICS[pick(rng, topics if rng.random() < 0.8 else ALL_TOPICS)]
    return pick(rng, pool)


def objective_name(rng: random.Random, topics: tuple[str, ...]) -> str:
    """A domain or task title such as ``Securing Encryption Key and Audit Log``."""
    a, b = _noun(rng, topics), _noun(rng, topics)
    tail = f" and {b}" if a != b and rng.random() < 0.5 else ""
    words = f"{pick(rng, GERUNDS)} {a}{tail}".split()
    return " ".join(w if w == "and" else w[:1].upper() + w[1:] for w in words)


def question_text(rng: random.Random, topics: tuple[str, ...], qtype: str) -> str:
    """The stem of a question of type ``single``, ``multiple`` or ``true_false``."""
    n1, n2 = _noun(rng, topics), _noun(rng, topics)
    if n2 == n1:
        n2 = _noun(rng, topics)
    role, verb, goal = pick(rng, ROLES), pick(rng, VERBS), pick(rng, GOALS)
    setting = ""
    if rng.random() < 0.6:  # a scenario line, as most certification items have
        size = pick(rng, ("40", "250", "1,200", "15,000", "2 million"))
        setting = f"A {pick(rng, CONTEXTS)} serves {size} users from {pick(rng, SITES)}. "
    if qtype == "true_false":
        return f"{setting}True or false: a {n1} can {verb} the {n2} {goal}."
    if qtype == "multiple":
        return (
            f"{setting}{role} must {verb} the {n1} {goal}. "
            f"Which TWO actions should be taken? (Choose two.)"
        )
    form = rng.randrange(5)
    if form == 0:
        ask = f"{role} must {verb} the {n1} {goal}. Which {n2} setting should change FIRST?"
    elif form == 1:
        ask = f"Which of the following BEST describes how a {n1} interacts with the {n2}?"
    elif form == 2:
        symptom = pick(rng, SYMPTOMS)
        ask = f"{role} notices that the {n1} fails {symptom}. What is the MOST likely cause?"
    elif form == 3:
        ask = f"What is the primary purpose of a {n1} when you {verb} a {n2}?"
    else:
        ask = (
            f"A company wants to {verb} its {n1} {goal}. The {n2} is already in place. "
            f"Which solution meets these requirements?"
        )
    return setting + ask


def _option(rng: random.Random, topics: tuple[str, ...]) -> str:
    form = rng.randrange(4)
    n1 = _noun(rng, topics)
    if form == 0:
        return f"{pick(rng, VERBS).capitalize()} the {n1}"
    if form == 1:
        return f"Use a {pick(rng, ADJECTIVES)} {n1}"
    if form == 2:
        return f"Enable logging on the {n1}"
    return f"Replace the {n1} with a {_noun(rng, topics)}"


def question_content(
    rng: random.Random, topics: tuple[str, ...], vendor: str | None, qtype: str
) -> tuple[str, str, str, tuple[str, ...], str | None, str | None, str | None]:
    """The words of one question.

    Returns:
        text, options JSON, correct selection (``"B"``, or ``"A,C"`` when two are right),
        the wrong selections a student can make, explanation, reference and tags JSON (each
        of the last three None for about a fifth to two fifths of the questions).
    """
    text = question_text(rng, topics, qtype)
    if qtype == "true_false":
        options, correct = ["True", "False"], {pick(rng, "AB")}
    else:
        n = 5 if qtype == "multiple" or rng.random() < 0.15 else 4
        options = [_option(rng, topics) for _ in range(n)]
        correct = set(rng.sample(KEYS[:n], 2 if qtype == "multiple" else 1))
    keys = KEYS[: len(options)]
    opts = [
        {"key": k, "text": t, "correct": k in correct} for k, t in zip(keys, options, strict=True)
    ]
    key = ",".join(sorted(correct))
    choices = (",".join(c) for c in itertools.combinations(keys, len(correct)))
    wrong = tuple(c for c in choices if c != key)
    n1, n2 = _noun(rng, topics), _noun(rng, topics)
    why = (
        f"{key} is correct: a {n1} {pick(rng, FACTS)}. The other options do not "
        f"{pick(rng, VERBS)} the {n2} {pick(rng, GOALS)}."
    )
    tags = sorted({pick(rng, TAGS) for _ in range(rng.randrange(1, 5))})
    return (
        text,
        json.dumps(opts),
        key,
        wrong,
        None if rng.random() < 0.2 else why,
        None if rng.random() < 0.4 else _reference(rng, vendor),
        None if rng.random() < 0.25 else json.dumps(tags),
    )


def _reference(rng: random.Random, vendor: str | None) -> str:
    """A citation: a documentation URL, an RFC, a NIST publication or a study guide chapter."""
    form = rng.randrange(4)
    if form == 0 and vendor:
        slug = vendor.lower().replace(" ", "-")
        return f"https://docs.{slug}.example/guide/{rng.randrange(1, 400)}"
    if form == 1:
        return f"RFC {rng.randrange(791, 9500)}, section {rng.randrange(1, 12)}"
    if form == 2:
        return f"NIST SP 800-{pick(rng, (53, 61, 63, 115, 207))}, control {rng.randrange(1, 30)}"
    return f"Official study guide, chapter {rng.randrange(1, 25)}"


def person(rng: random.Random, uid: int) -> tuple[str, str, str | None, str | None]:
    """Email (unique through ``uid``), name, display name and time zone (both nullable)."""
    first, family = pick(rng, FIRST), pick(rng, LAST)
    email = f"{first.lower()}.{family.lower()}{uid}@{pick(rng, DOMAINS)}"
    nick = None if rng.random() < 0.4 else f"{first}{family[0]}"
    return email, f"{first} {family}", nick, None if rng.random() < 0.3 else pick(rng, TIMEZONES)


def fmt_time(epoch: int) -> str:
    """SQLite's text timestamp (UTC) for a Unix time.

    >>> fmt_time(86_400 + 3_661)
    '1970-01-02 01:01:01'
    """
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _tweet(rng: random.Random, exam: str) -> str:
    n = _noun(rng, ALL_TOPICS)
    form = rng.randrange(4)
    if form == 0:
        return f"Day {rng.randrange(1, 120)} of prepping for {exam}: today was all about the {n}."
    if form == 1:
        return f"Quick tip for {exam}: always {pick(rng, VERBS)} the {n} {pick(rng, GOALS)}."
    if form == 2:
        return f"Poll: what is harder on {exam}, the {n} questions or {_noun(rng, ALL_TOPICS)}?"
    return f"New practice set: 25 questions on the {n} for {exam}. Link in bio. #{pick(rng, TAGS)}"


def dashboard(
    rng: random.Random, *, accounts: int, tweets: int, opportunities: int, days: int, now: int
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of the social-growth dashboard, in the column order of ``datagen._COLUMNS``.

    Accounts post study tips over the ``days`` before ``now`` (a Unix time); growth metrics
    hold one row per account per day; opportunities are other people's posts of the last 60
    days, some acted upon. The last account of four or more stopped growing two months ago.
    """
    ids = range(1, accounts + 1)
    cw = list(itertools.accumulate(1 / a for a in ids))
    codes = [e[0] for e in EXAMS]
    out: dict[str, list[tuple[Any, ...]]] = {"twitter_accounts": [], "tweets": []}
    for a in ids:
        handle = HANDLES[(a - 1) % len(HANDLES)] + (f"_{a}" if a > len(HANDLES) else "")
        shown = None if a == 2 else handle.replace("_", " ").title()
        created = fmt_time(now - (days + 30 * a) * 86_400)
        out["twitter_accounts"].append((a, handle, shown, 0 if a == accounts >= 4 else 1, created))
    posted = sorted(now - 1 - rng.randrange(days * 86_400) for _ in range(tweets))
    for i, at in enumerate(posted, 1):
        views = int(rng.paretovariate(1.3) * 150)
        likes = int(views * rng.uniform(0.0, 0.05))
        external = None if rng.random() < 0.02 else str((at * 1000) << 22 | i)  # snowflake-like
        kind = rng.choices(("post", "reply", "thread"), (70, 20, 10))[0]
        cost = None if rng.random() < 0.3 else round(rng.uniform(0.001, 0.05), 5)
        account = rng.choices(ids, cum_weights=cw)[0]
        text = _tweet(rng, pick(rng, codes))
        shares, replies = likes // rng.randint(3, 10), likes // rng.randint(2, 8)
        row = (i, account, external, text, kind, views, likes, shares, replies, cost, fmt_time(at))
        out["tweets"].append(row)
    first = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(days=days)
    dates = [(first + dt.timedelta(days=d)).isoformat() for d in range(days)]
    out["growth_metrics"] = metrics = []
    for a in ids:
        followers, trend = rng.randrange(200, 5000), rng.uniform(5, 60)
        for d, date in enumerate(dates):
            stalled = a == accounts >= 4 and d > days - 60
            new = 0 if stalled else max(0, int(rng.gauss(trend * (1 + d / 365), trend / 2)))
            followers += new - int(new * rng.uniform(0.05, 0.4))
            views = int(followers * rng.uniform(0.5, 4.0) * (0.7 if d % 7 in (2, 3) else 1.0))
            engaged, cost = int(views * rng.uniform(0.01, 0.06)), round(rng.uniform(0.05, 2.5), 4)
            metrics.append((a, date, followers, new, views, engaged, cost))
    out["engagement_opportunities"] = opps = []
    statuses = ("pending", "approved", "replied", "skipped", "expired")
    for at in sorted(now - 1 - rng.randrange(60 * 86_400) for _ in range(opportunities)):
        status = rng.choices(statuses, (30, 10, 30, 20, 10))[0]
        exam, n = pick(rng, codes), _noun(rng, ALL_TOPICS)
        post = f"Anyone know a good way to {pick(rng, VERBS)} a {n} for the {exam} exam?"
        reply = f"Try scenario drills on the {n}: a {n} {pick(rng, FACTS)}. Good luck on {exam}!"
        acted = at + rng.randrange(60, 3 * 86_400)
        author = f"{pick(rng, FIRST).lower()}_{rng.randrange(10_000)}"
        opps.append(
            (
                rng.choices(ids, cum_weights=cw)[0],
                None if rng.random() < 0.05 else str(rng.getrandbits(60)),
                None if rng.random() < 0.05 else author,
                post,
                status,
                None if rng.random() < 0.1 else round(rng.random(), 3),
                None if status in ("skipped", "expired") or rng.random() < 0.2 else reply,
                fmt_time(at),
                None if status in ("pending", "expired") else fmt_time(min(now - 1, acted)),
            )
        )
    return out
