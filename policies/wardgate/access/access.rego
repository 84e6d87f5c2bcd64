# METADATA
# title: Wardgate field access
# description: |
#   One decision per request: for each field class (label, agency, schema field) in input.classes,
#   allow, deny or mask, with a reason code; plus obligations (alerts, notifications).
#   Default deny: a class this policy says nothing about is denied by the gateway.
#   Written in the Rego subset both the embedded engine (regopy) and OPA agree on: inputs that may
#   be missing are read with object.get before any `not`, and no `with` in functions that use built-ins.
package wardgate.access

import rego.v1

cfg := data.wardgate.config

subject := object.get(input, "subject", {})

role := object.get(subject, "role", "")

mfa := object.get(subject, "mfa", false) == true

purpose := object.get(input, "purpose", "")

break_glass := object.get(input, "break_glass", false) == true

child := object.get(input, "child", {})

# METADATA
# entrypoint: true
# description: The whole decision the gateway asks for.
decision := {"fields": fields, "obligations": obligations}

fields[key] := final_decision(c) if {
	some key, c in input.classes
}

# METADATA
# title: Rule 6, a weakly linked record
# description: |
#   A record linked by name and date of birth only (not certain) shows no more than identity, whatever
#   else would have allowed its fields. Applied last, to what would otherwise be shown, so that a field
#   already withheld keeps its own reason and the grade of a record the requester may not see changes nothing.
# custom:
#   reasons: [WEAK_MATCH]
final_decision(c) := deny("WEAK_MATCH") if {
	d := field_decision(c)
	d.action != "deny"
	agency_weak(c.agency)
	not c.label in cfg.weak_match_labels
	c.label != "directory"
} else := field_decision(c)

# METADATA
# title: One field class
# description: The first rule that applies wins, in the order of docs/access-rules.md.
# custom:
#   reasons:
#     - PURPOSE_NOT_PERMITTED
#     - ROLE_NOT_OF_AGENCY
#     - META
#     - AUDITOR_NO_CHILD_DATA
#     - DIRECTORY
#     - CHILD_FACTS_UNAVAILABLE
#     - SHIELDED
#     - PROTECTED_ADDRESS
#     - WEAK_MATCH
#     - MASKED_FOR_ROLE
#     - NOT_NEED_TO_KNOW
field_decision(c) := deny("PURPOSE_NOT_PERMITTED") if {
	not purpose_permitted
} else := deny("ROLE_NOT_OF_AGENCY") if {
	not role_of_agency
} else := allow("META") if {
	c.label == "meta"
} else := deny("AUDITOR_NO_CHILD_DATA") if {
	role == "auditor"
} else := allow("DIRECTORY") if {
	c.label == "directory"
} else := deny("CHILD_FACTS_UNAVAILABLE") if {
	not facts_complete
	not shield_visible(c)
} else := deny("SHIELDED") if {
	shielded
	not child_protection_override
	not shield_visible(c)
} else := deny("PROTECTED_ADDRESS") if {
	refuge
	c.field in cfg.address_fields
	not refuge_visible
} else := deny("WEAK_MATCH") if {
	weak_match
	not c.label in cfg.weak_match_labels
} else := deny("NOT_NEED_TO_KNOW") if {
	mask_for(c) == "withhold"
} else := {"action": "mask", "reason": "MASKED_FOR_ROLE", "mask": mask_for(c)} if {
	mask_for(c) != ""
} else := label_decision(c)

mask_for(c) := object.get(object.get(cfg.masked_for_role, role, {}), c.field, "")

# METADATA
# title: By label
# custom:
#   reasons: [IDENTITY, CONTACT, INVOLVEMENT, UNKNOWN_LABEL]
label_decision(c) := allow("IDENTITY") if {
	c.label == "identity"
} else := allow("CONTACT") if {
	c.label == "contact"
} else := allow("INVOLVEMENT") if {
	c.label == "involvement"
} else := sensitive_decision(c) if {
	c.label == "sensitive"
} else := case_decision(c) if {
	c.label == "case"
} else := restricted_decision(c) if {
	c.label == "restricted"
} else := deny("UNKNOWN_LABEL")

# METADATA
# title: Rule 4, sensitive services
# description: Visible only with recorded consent covering this role and purpose, or break-glass.
# custom:
#   reasons: [CONSENTED, BREAK_GLASS, NO_CONSENT]
sensitive_decision(c) := allow("CONSENTED") if {
	consented(object.get(cfg.sensitive_services, c.agency, c.agency))
} else := allow("BREAK_GLASS") if {
	child_protection_override
} else := deny("NO_CONSENT")

consented(service) if {
	some consent in object.get(child, "consents", [])
	consent.service == service
	role in consent.roles
	purpose in consent.purposes
}

# METADATA
# title: Rule 5, case fields
# description: Need-to-know.
case_decision(c) := need_to_know(c)

# METADATA
# title: Rule 5, restricted fields
# description: Need-to-know, and only ever after a two-factor login.
# custom:
#   reasons: [TWO_FACTOR_REQUIRED]
restricted_decision(c) := deny("TWO_FACTOR_REQUIRED") if {
	not mfa
} else := need_to_know(c)

# METADATA
# title: Need-to-know
# description: |
#   The requester's own agency's record; or, for safeguarding, a practitioner involved with the
#   child or one in a safeguarding role; or the child-protection override.
# custom:
#   reasons: [OWN_AGENCY, INVOLVED, SAFEGUARDING_ROLE, BREAK_GLASS, SAFEGUARDING_PURPOSE_REQUIRED, NOT_NEED_TO_KNOW]
need_to_know(c) := allow("OWN_AGENCY") if {
	c.agency == object.get(subject, "agency", "")
} else := allow("INVOLVED") if {
	requester_involved
	purpose == "safeguarding"
} else := allow("SAFEGUARDING_ROLE") if {
	role in cfg.restricted_roles
	purpose == "safeguarding"
} else := allow("BREAK_GLASS") if {
	child_protection_override
} else := deny("SAFEGUARDING_PURPOSE_REQUIRED") if {
	could_know
	purpose != "safeguarding"
} else := deny("NOT_NEED_TO_KNOW")

could_know if role in cfg.restricted_roles

could_know if requester_involved

# Facts, each read so that a missing input can only ever deny.

purpose_permitted if purpose in object.get(cfg.purposes, role, [])

# Rule 8: a token's role and agency must be a pair the council's directory allows (a voluntary worker
# claiming to be police is refused everything).
role_of_agency if object.get(subject, "agency", "") in object.get(cfg.role_agencies, role, [])

facts_complete if object.get(child, "facts_complete", false) == true

# A shield flag that is missing or unknown (null) counts as a shield: a restrictive fact fails closed.
shielded if object.get(child, "shielded", true) != false

weak_match if object.get(child, "match_grade", "none") != "certain"

# Rule 7: a refuge. Unknown (missing) counts as a refuge: a restrictive fact fails closed.
refuge if object.get(child, "refuge", true) != false

# Who may know where a family in a refuge lives: whoever may read the refuge flag itself.
refuge_visible if restricted_decision(refuge_flag).action == "allow"

refuge_flag := {"label": "restricted", "agency": cfg.refuge_agency, "field": "HousingInformation.refuge"}

# Agencies whose linked record is weak (rule 6); missing from the input, every agency counts as weak.
weak_agencies := object.get(child, "weak_agencies", null)

agency_weak(agency) if not is_array(weak_agencies)

agency_weak(agency) if {
	is_array(weak_agencies)
	agency in weak_agencies
}

requester_involved if object.get(child, "requester_involved", false) == true

child_protection_override if {
	break_glass
	role in cfg.child_protection_roles
	purpose == "safeguarding"
}

shield_visible(c) if c.field in cfg.shielded_visible_fields

shield_visible(c) if c.label == "meta"

allow(reason) := {"action": "allow", "reason": reason}

deny(reason) := {"action": "deny", "reason": reason}

# METADATA
# title: Obligations
# description: |
#   What the gateway must do because of what it returns: raise an alert when the child-protection
#   override is used, and notify the owning agency when another agency's practitioner reads a
#   restricted field (as CP-IS notifies councils).
# custom:
#   reasons: [BREAK_GLASS, SHIELD_OVERRIDE, RESTRICTED_READ]
obligations contains {"kind": "alert", "reason": "BREAK_GLASS"} if child_protection_override

obligations contains {"kind": "alert", "reason": "SHIELD_OVERRIDE"} if {
	shielded
	child_protection_override
}

obligations contains {"kind": "notify", "agency": c.agency, "reason": "RESTRICTED_READ"} if {
	some key, c in input.classes
	c.label == "restricted"
	c.agency != object.get(subject, "agency", "")
	fields[key].action == "allow"
}
