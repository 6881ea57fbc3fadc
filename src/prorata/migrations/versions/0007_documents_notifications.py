"""Jobs, notifications and documents: the tenant's record of its jobs, webhooks and their
deliveries, the email outbox, rendered documents (their files are blobs).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE tenant_jobs (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID,
    kind VARCHAR(50) NOT NULL,
    queue_job_id BIGINT NOT NULL,
    status VARCHAR(20) NOT NULL,
    progress SMALLINT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error VARCHAR(1000),
    document_id UUID,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    CONSTRAINT pk_tenant_jobs PRIMARY KEY (id),
    CONSTRAINT ck_tenant_jobs_progress_percent CHECK (progress BETWEEN 0 AND 100),
    CONSTRAINT fk_tenant_jobs_org_id_orgs
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
    CONSTRAINT fk_tenant_jobs_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
);
CREATE INDEX ix_tenant_jobs_queue_job_id ON tenant_jobs (queue_job_id);

CREATE TABLE webhooks (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    url VARCHAR(2000) NOT NULL,
    events VARCHAR(50)[] NOT NULL,
    secret VARCHAR(100) NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_webhooks PRIMARY KEY (id),
    CONSTRAINT uq_webhooks_org_id_id UNIQUE (org_id, id),
    CONSTRAINT fk_webhooks_org_id_orgs FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);

CREATE TABLE webhook_deliveries (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    webhook_id UUID NOT NULL,
    event VARCHAR(50) NOT NULL,
    body VARCHAR(16384) NOT NULL,
    status VARCHAR(20) NOT NULL,
    attempts INTEGER NOT NULL,
    response_status SMALLINT,
    last_error VARCHAR(1000),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id),
    CONSTRAINT fk_webhook_deliveries_org_id_webhook_id_webhooks
        FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_webhook_deliveries_webhook_id_id ON webhook_deliveries (webhook_id, id);

CREATE TABLE email_outbox (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    kind VARCHAR(50) NOT NULL,
    recipient VARCHAR(320) NOT NULL,
    subject VARCHAR(300) NOT NULL,
    body VARCHAR(10000) NOT NULL,
    document_id UUID,
    status VARCHAR(20) NOT NULL,
    attempts INTEGER NOT NULL,
    last_error VARCHAR(1000),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    CONSTRAINT pk_email_outbox PRIMARY KEY (id),
    CONSTRAINT fk_email_outbox_org_id_orgs
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);
CREATE INDEX ix_email_outbox_document_id ON email_outbox (document_id);

CREATE TABLE documents (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    kind VARCHAR(30) NOT NULL,
    status VARCHAR(20) NOT NULL,
    call_id UUID,
    investor_id UUID,
    period_start DATE,
    as_of DATE,
    filename VARCHAR(200) NOT NULL,
    blob_id UUID,
    pages INTEGER,
    requested_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ready_at TIMESTAMPTZ,
    CONSTRAINT pk_documents PRIMARY KEY (id),
    CONSTRAINT uq_documents_call_id_investor_id UNIQUE (call_id, investor_id),
    CONSTRAINT fk_documents_org_id_orgs
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
    CONSTRAINT fk_documents_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_documents_blob_id_blobs FOREIGN KEY (blob_id) REFERENCES blobs (id)
);
CREATE INDEX ix_documents_fund_id_id ON documents (fund_id, id);
CREATE INDEX ix_documents_investor_id_id ON documents (investor_id, id);
"""

TENANT_TABLES = ["tenant_jobs", "webhooks", "webhook_deliveries", "email_outbox", "documents"]


def upgrade() -> None:
    op.execute(TABLES)
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP TABLE {table}")
