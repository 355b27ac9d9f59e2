"""Policy templates, the policy engine, approvals and the audit log. Built in issue #3; nothing here yet."""
