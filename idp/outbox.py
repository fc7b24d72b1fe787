"""The mail outbox: no mail is lost when the process dies (issue 9, faults; S16, S18).

Every outgoing mail is written to ``mail_outbox`` in the transaction of the change that
causes it (a code issued, a password reset, a factor changed): if that transaction
commits, the mail exists; if it rolls back, no mail about a change that never happened
can leave. The message may hold a code, so it is sealed with the secret box
(:mod:`idp.secret_box`) and blanked once sent or given up.

It is sent at once, by the request once its transaction has committed (or, where S6
asks, by a background thread once the response is out); a code never waits for a worker
pass. What could not leave (the SMTP server down, the process killed before it sent) is
sent by :meth:`Outbox.deliver_due`, which ``clef oidc worker`` runs every few seconds,
after the waits of ``mail.retry_seconds``; each outcome it reaches is audited, and a mail
holding an emailed code is given up once the code has expired.

Each attempt first claims the row with one conditional UPDATE (the attempt count it
read must still be there), so a request's immediate send and the worker, or two
workers, never send one mail twice at once. Delivery is at least once: a process killed
after the SMTP server accepted the mail but before the row was marked sends it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from idp import audit
from idp.clock import Clock
from idp.mail import Mailer, MailNotSent, OutgoingMail
from idp.models import OutboxMail
from idp.secret_box import SecretBox, SecretUnreadable

log = logging.getLogger("clef.mail.outbox")

PENDING = "pending"
SENT = "sent"
GIVEN_UP = "given_up"
DISCARDED = "discarded"  # rendered and sealed for nobody (S6), never sent
ACTOR = "clef:outbox"
# Sent and given-up rows (already blank) are deleted after this long.
KEEP_FINISHED = timedelta(days=1)


EXCHANGE_STEPS = 8  # an SMTP exchange's steps, each under smtplib's timeout


class Outbox:
    def __init__(self, session_factory: sessionmaker[Session], box: SecretBox, mailer: Mailer,
                 clock: Clock, retry_seconds: tuple[int, ...],
                 exchange_seconds: float = 10.0) -> None:
        self._session_factory = session_factory
        self._box = box
        self._mailer = mailer
        self._clock = clock
        self._retries = [timedelta(seconds=s) for s in retry_seconds] or [timedelta(seconds=30)]
        # How long a claim holds a mail while it is sent: longer than an exchange can
        # last (smtplib's timeout, ``exchange_seconds``, applies to each of its steps:
        # connect, greeting, STARTTLS, login, the envelope, the data, QUIT), so no other
        # sender takes a mail still being sent. A failure then sets the retry's wait.
        self._lease = timedelta(seconds=exchange_seconds * EXCHANGE_STEPS)

    def stage(self, db: Session, mail: OutgoingMail, now: datetime, *, message: str,
              account_id: int | None = None, expires_at: datetime | None = None) -> OutboxMail:
        """Add ``mail`` to ``db``'s transaction; the caller commits, then sends it
        (:meth:`send`). The worker may take it once the first wait has passed."""
        row = OutboxMail(message=message, account_id=account_id, sealed=self._seal(mail),
                         status=PENDING, created_at=now, expires_at=expires_at, attempts=0,
                         next_attempt_at=now + self._retries[0])
        db.add(row)
        return row

    def discard(self, db: Session, mail: OutgoingMail, now: datetime, *, message: str) -> None:
        """The same work as :meth:`stage` for a mail with no recipient, so the answer
        takes as long whether or not an account exists (S6); nothing is kept."""
        self._seal(mail)
        db.add(OutboxMail(message=message, sealed="", status=DISCARDED, created_at=now,
                          attempts=0, next_attempt_at=now, finished_at=now))

    def _seal(self, mail: OutgoingMail) -> str:
        return self._box.seal(json.dumps(asdict(mail)))

    def send(self, mail_id: int) -> bool:
        """Send one committed mail now, in a session of its own (a request's, after its
        commit; the background thread's). True when it left (or had already left)."""
        with self._session_factory() as db:
            row = db.get(OutboxMail, mail_id)
            if row is None or row.status != PENDING:
                return row is not None and row.status == SENT
            seen = (row.id, row.attempts, row.expires_at)
            db.rollback()  # claim in a fresh transaction (SQLite cannot upgrade a stale read)
            return self._attempt(db, seen, self._clock.now(), by_worker=False) == SENT

    def deliver_due(self, db: Session, limit: int = 50) -> tuple[int, int]:
        """The worker's pass: every pending mail whose wait is over. Returns (sent,
        given up); finished rows older than a day are deleted."""
        now = self._clock.now()
        due = [(mail_id, attempts, expires) for mail_id, attempts, expires in db.execute(
            select(OutboxMail.id, OutboxMail.attempts, OutboxMail.expires_at)
            .where(OutboxMail.status == PENDING, OutboxMail.next_attempt_at <= now)
            .order_by(OutboxMail.id).limit(limit))]
        db.rollback()
        # Each mail at the time of its own attempt: behind a slow exchange, a pass's start
        # is long gone; its claim's next wait would be over at once (a second worker
        # would send it again) and a code expired meanwhile would still be mailed.
        outcomes = [self._attempt(db, seen, self._clock.now(), by_worker=True) for seen in due]
        db.execute(delete(OutboxMail).where(OutboxMail.status != PENDING,
                                            OutboxMail.finished_at < now - KEEP_FINISHED))
        db.commit()
        return outcomes.count(SENT), outcomes.count(GIVEN_UP)

    def waiting(self, db: Session) -> int:
        """How many mails have not left yet (``clef oidc deliver`` says)."""
        return int(db.scalar(select(func.count()).select_from(OutboxMail)
                             .where(OutboxMail.status == PENDING)) or 0)

    def claim(self, db: Session, mail_id: int, seen_attempts: int,
              now: datetime) -> OutboxMail | None:
        """Take the row for one attempt, or None when another sender took it first: one
        conditional UPDATE on the attempt count the caller read. The next wait is set
        now, so a process killed while sending leaves the mail to the worker."""
        wait = max(self._retry_wait(seen_attempts + 1), self._lease)
        claimed = db.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id, OutboxMail.status == PENDING,
                   OutboxMail.attempts == seen_attempts)
            .values(attempts=seen_attempts + 1, next_attempt_at=now + wait)
            .execution_options(synchronize_session=False))
        db.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult
            return None
        return db.get(OutboxMail, mail_id, populate_existing=True)

    def _attempt(self, db: Session, seen: tuple[int, int, datetime | None], now: datetime,
                 *, by_worker: bool) -> str:
        """One try at a mail read as ``seen`` (id, attempts, expiry); its status after."""
        mail_id, attempts, expires_at = seen
        row = self.claim(db, mail_id, attempts, now)
        if row is None:
            return "taken"
        if expires_at is not None and now >= expires_at:
            self._give_up(db, row, now, "expired")
            return GIVEN_UP
        try:
            mail = OutgoingMail(**json.loads(self._box.open(row.sealed)))
            self._mailer.send(mail, now)
        except SecretUnreadable:
            self._give_up(db, row, now, "unreadable")
            return GIVEN_UP
        except MailNotSent as error:
            return self._failed(db, row, now, error)
        row.status, row.sealed, row.finished_at = SENT, "", now
        if by_worker or row.attempts > 1:
            audit.record(db, now, audit.MAIL_SENT, actor=ACTOR, account_id=row.account_id,
                         mail=row.message, attempts=row.attempts)
        db.commit()
        return SENT

    def reseal_all(self, db: Session, box: SecretBox) -> int:
        """Mail still waiting, re-encrypted under the first key (``clef encryption
        reseal``), so the old key can go without losing it. A row is written only if it
        still holds what was read (a sender may finish it meanwhile). The caller commits."""
        count = 0
        for mail_id, sealed in db.execute(
                select(OutboxMail.id, OutboxMail.sealed)
                .where(OutboxMail.status == PENDING, OutboxMail.sealed != "")).all():
            changed = db.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail_id, OutboxMail.status == PENDING,
                       OutboxMail.sealed == sealed)
                .values(sealed=box.reseal(sealed))
                .execution_options(synchronize_session=False))
            count += changed.rowcount  # type: ignore[attr-defined]
        return count

    def _retry_wait(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th attempt failed."""
        return self._retries[min(attempts - 1, len(self._retries) - 1)]

    def _failed(self, db: Session, row: OutboxMail, now: datetime, error: MailNotSent) -> str:
        cause = error.__cause__
        row.last_error = type(cause).__name__ if cause is not None else "MailNotSent"
        if row.attempts > len(self._retries):
            self._give_up(db, row, now, row.last_error)
            return GIVEN_UP
        row.next_attempt_at = self._clock.now() + self._retry_wait(row.attempts)
        audit.record(db, now, audit.MAIL_FAILED, actor=ACTOR, account_id=row.account_id,
                     mail=row.message, attempts=row.attempts, error=row.last_error)
        db.commit()
        return PENDING

    def _give_up(self, db: Session, row: OutboxMail, now: datetime, why: str) -> None:
        row.status, row.sealed, row.finished_at = GIVEN_UP, "", now
        audit.record(db, now, audit.MAIL_GIVEN_UP, actor=ACTOR, account_id=row.account_id,
                     mail=row.message, attempts=row.attempts, reason=why)
        log.warning("mail %s (outbox row %s) given up after %d attempt(s): %s",
                    row.message, row.id, row.attempts, why)
        db.commit()
