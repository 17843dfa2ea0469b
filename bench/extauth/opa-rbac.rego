package envoy.authz

import rego.v1

# An RBAC policy in the style of the OPA-Envoy tutorials: users have roles, roles grant methods on
# resources (the first path segment after /api).

default allow := false

user_roles := {
	"alice": ["admin"],
	"bob": ["employee", "billing"],
	"carol": ["employee"],
	"dan": ["auditor"],
}

role_grants := {
	"admin": [
		{"method": "GET", "resource": "*"},
		{"method": "POST", "resource": "*"},
		{"method": "DELETE", "resource": "*"},
	],
	"employee": [{"method": "GET", "resource": "people"}, {"method": "GET", "resource": "projects"}],
	"billing": [{"method": "GET", "resource": "invoices"}, {"method": "POST", "resource": "invoices"}],
	"auditor": [{"method": "GET", "resource": "invoices"}, {"method": "GET", "resource": "audit"}],
}

user := input.attributes.request.http.headers["x-user"]

allow if {
	input.parsed_path[0] == "api"
	some role in user_roles[user]
	some grant in role_grants[role]
	grant.method == input.attributes.request.http.method
	grant_covers(grant.resource, input.parsed_path[1])
}

grant_covers("*", _)

grant_covers(resource, resource) if resource != "*"
