-- A re-share (a share made by a guest through a MANAGE grant) names the grant it came from: it
-- can neither outlast nor outrank it, and ends with it. The key includes company_id like every
-- key between tenant rows; it is checked at commit, so that a restore may insert a company's
-- grants in any order.
ALTER TABLE grants ADD COLUMN source_grant_id uuid;
ALTER TABLE grants ADD CONSTRAINT grants_source_fkey FOREIGN KEY (company_id, source_grant_id)
    REFERENCES grants (company_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX grants_source_idx ON grants (company_id, source_grant_id) WHERE source_grant_id IS NOT NULL;
