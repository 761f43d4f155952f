-- Which conversations a tenant's agents see: 'all' of them (the default, as before), or
-- 'team': those of their teams, those assigned to them and unassigned ones. Supervisors,
-- admins and the AI always see all (the AI never internal notes).
ALTER TABLE tenants ADD COLUMN visibility text NOT NULL DEFAULT 'all' CHECK (visibility IN ('all', 'team'));
