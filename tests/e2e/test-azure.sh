#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the cloud JIT format. A jitNetworkAccessPolicies document
# (2020-01-01, written here from the published schema) is imported, checked
# and loaded, and so is the list az prints, a policy per virtual machine;
# an initiate request body opens the port for one client; the records read
# back in the JitNetworkAccessRequest shape, also after revoke, and
# request --azure reads them back to open the port again.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22 3389

VM_ID="/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-e2e/providers/Microsoft.Compute/virtualMachines/E2E-Jump.01"
POLICY=e2e-jump-01

# --- import ---------------------------------------------------------------
cat >"$TMP/policy.json" <<J
{
  "parameters": {
    "api-version": "2020-01-01",
    "resourceGroupName": "rg-e2e",
    "jitNetworkAccessPolicyName": "default",
    "body": {
      "kind": "Basic",
      "properties": {
        "virtualMachines": [
          {
            "id": "$VM_ID",
            "publicIpAddress": "203.0.113.5",
            "ports": [
              {
                "number": 22,
                "protocol": "TCP",
                "allowedSourceAddressPrefixes": ["$C1_4", "$C2_4", "2001:db8:1::/64"],
                "maxRequestAccessDuration": "PT1H"
              },
              {
                "number": 3389,
                "protocol": "*",
                "allowedSourceAddressPrefix": "*",
                "maxRequestAccessDuration": "PT30M"
              }
            ]
          }
        ]
      }
    }
  }
}
J
check "import-azure writes the policy" \
	"$JITCTL" import-azure "$TMP/policy.json" -o "$TMP/policies/jump.yaml" 2>"$TMP/notes"
check "publicIpAddress is reported as a note, not dropped silently" \
	grep -q '^jitctl: note: parameters.body.properties.virtualMachines\[0\].publicIpAddress: ' "$TMP/notes"
check "the policy is named after the virtual machine" grep -q "^name: $POLICY\$" "$TMP/policies/jump.yaml"
check "the imported policy passes jit-enforcer --check" "$ENFORCER" --check "$TMP/policies/jump.yaml"
out=$("$JITCTL" import-azure "$TMP/policy.json" --vm nope 2>&1 || true)
check "an unknown --vm is refused, naming the machines: $out" \
	grep -q "no virtual machine named 'nope'; the document has: E2E-Jump.01" <<<"$out"

# The bare list az security jit-policy list prints: one file per VM.
cat >"$TMP/az-list.json" <<J
[
  {"name": "default", "resourceGroup": "rg-e2e", "location": "westeurope", "kind": "Basic",
   "type": "Microsoft.Security/locations/jitNetworkAccessPolicies",
   "virtualMachines": [
     {"id": "/subscriptions/s/resourceGroups/rg-e2e/providers/Microsoft.Compute/virtualMachines/e2e-extra-1",
      "ports": [{"number": 5001, "protocol": "UDP", "allowedSourceAddressPrefix": "Internet", "maxRequestAccessDuration": "PT1H"}]},
     {"id": "/subscriptions/s/resourceGroups/rg-e2e/providers/Microsoft.Compute/virtualMachines/e2e-extra-2",
      "ports": [{"number": 5002, "protocol": "TCP", "allowedSourceAddressPrefix": "$C2_4", "maxRequestAccessDuration": "PT30M"}]}
   ]}
]
J
check "import-azure -o DIR writes a policy per virtual machine" \
	"$JITCTL" import-azure "$TMP/az-list.json" -o "$TMP/policies" 2>/dev/null
check "... named after them" test -f "$TMP/policies/e2e-extra-1.yaml" -a -f "$TMP/policies/e2e-extra-2.yaml"

start_agent || exit 1
check "the agent loads all three imported policies" \
	bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | jq -r '[.policies[].name] | sort | join(\",\")')\" = e2e-extra-1,e2e-extra-2,$POLICY ]"
check "the agent enforces the imported policy" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK policies | grep -q '^$POLICY .*tcp/22 .*1h'"
expect_tcp c1 "$VM4_1" 22 dropped
expect_tcp c2 "$VM4_2" 22 dropped

# --- refusals: nothing is sent --------------------------------------------
initiate() { # FILE NUMBER END [PREFIX]
	local src=""
	[ -n "${4:-}" ] && src=", \"allowedSourceAddressPrefix\": \"$4\""
	cat >"$1" <<J
{
  "virtualMachines": [
    {"id": "$VM_ID", "ports": [{"number": $2, "endTimeUtc": "$3"$src}]}
  ],
  "justification": "e2e: rotate host keys"
}
J
}
initiate "$TMP/long.json" 22 "$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)" "$C1_4"
out=$(jitctl request --azure "$TMP/long.json" 2>&1 || true)
check "an end time beyond the port's limit is refused: $out" \
	grep -Eq "virtualMachines\[0\].ports\[0\].endTimeUtc: '.*' is (2h|1h59m[0-9]+s) from now, beyond the limit of 1h for port 22 under policy '$POLICY'" <<<"$out"
initiate "$TMP/past.json" 22 "$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)" "$C1_4"
out=$(jitctl request --azure "$TMP/past.json" 2>&1 || true)
check "an end time in the past is refused: $out" grep -q "is in the past" <<<"$out"
initiate "$TMP/nosrc.json" 22 "$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)"
out=$(jitctl request --azure "$TMP/nosrc.json" 2>&1 || true)
check "a missing source prefix is refused: $out" grep -q "missing allowedSourceAddressPrefix" <<<"$out"
check "none of them was sent to the agent" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK requests --all | grep -q '^no requests'"
expect_tcp c1 "$VM4_1" 22 dropped

# --- an initiate body opens the port for the client -----------------------
initiate "$TMP/initiate.json" 22 "$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%S.1234567Z)" "$C1_4"
out=$(jitctl request --azure "$TMP/initiate.json")
check "the initiate body is granted: $out" \
	grep -q "^virtualMachines\[0\].ports\[0\]: request [0-9]* granted: $C1_4/32 -> tcp/22 until" <<<"$out"
id=$(sed -n 's/^.*: request \([0-9]*\) granted.*/\1/p' <<<"$out")
expect_tcp c1 "$VM4_1" 22 open
expect_tcp c2 "$VM4_2" 22 dropped
expect_tcp c1 "$VM4_1" 3389 dropped
check "the kernel element ends at endTimeUtc" \
	bash -c "ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep '$C1_4 . tcp . 22' | grep -Eq 'expires (4m[0-9]+s|5m)'"
check "the justification becomes the reason" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK grants | grep -q '^$id .*e2e: rotate host keys'"

# --- the records in the cloud's shape ---------------------------------------
az=$(jitctl requests --format azure | tr -d ' \n')
port_re="\"number\":22,\"allowedSourceAddressPrefix\":\"$C1_4\",\"endTimeUtc\":\"[0-9-]*T[0-9:.]*Z\""
check "requests --format azure: Initiated, UserRequested: $az" \
	grep -Eq "^\[\{\"virtualMachines\":\[\{\"id\":\"$POLICY\",\"ports\":\[\{$port_re,\"status\":\"Initiated\",\"statusReason\":\"UserRequested\"\}\]\}\],\"startTimeUtc\":\"[0-9-]*T[0-9:.]*Z\",\"requestor\":\"root\",\"justification\":\"e2e:rotatehostkeys\"\}\]\$" <<<"$az"

jitctl requests --format azure >"$TMP/records.json"
check "revoke" jitctl revoke "$id"
expect_tcp c1 "$VM4_1" 22 dropped
az=$(jitctl requests --all --format azure | tr -d ' \n')
check "after revoke: Revoked, UserRequested: $az" \
	grep -Eq "\{$port_re,\"status\":\"Revoked\",\"statusReason\":\"UserRequested\"\}" <<<"$az"
out=$(jitctl requests --format azure 2>&1)
check "live requests only: an empty list" test "$(tr -d ' \n' <<<"$out")" = "[]"

# --- what requests --format azure printed, requested again ------------------
out=$(jitctl request --azure "$TMP/records.json")
check "request --azure reads the records back: granted again: $out" \
	grep -q "^\[0\].virtualMachines\[0\].ports\[0\]: request [0-9]* granted: $C1_4/32 -> tcp/22 until" <<<"$out"
expect_tcp c1 "$VM4_1" 22 open
check "... until the end it had" \
	bash -c "ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep '$C1_4 . tcp . 22' | grep -Eq 'expires (4m[0-9]+s|5m)'"

# --- --json: one document for several ports, one of them refused ------------
initiate "$TMP/two.json" 22 "$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)" "$C2_4"
sed -i 's/"ports": \[{\(.*\)}\]}/"ports": [{\1}, {"number": 22, "endTimeUtc": "'"$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)"'", "allowedSourceAddressPrefix": "203.0.113.9"}]}/' "$TMP/two.json"
rc=0
out=$(jitctl --json request --azure "$TMP/two.json") || rc=$?
check "request --azure --json, two ports, one refused: exit 1 ($rc)" [ "$rc" = 1 ]
check "... one JSON document: the grant and the refusal: $out" \
	jq -e -s 'length == 1 and (.[0] | (.ok | not) and .error.code == "requests-failed" and .requests[0].ok and .requests[0].request.status == "initiated" and (.requests[1].ok | not) and .requests[1].error.code == "source-not-allowed")' <<<"$out"
expect_tcp c2 "$VM4_2" 22 open
