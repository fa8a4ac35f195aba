package codec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestItemFromJSON: every kind of attribute DynamoDB's JSON has is read
// back, nested too; what is not an item is an error that says why.
func TestItemFromJSON(t *testing.T) {
	got, err := ItemFromJSON([]byte(`{"s":{"S":"a\"b"},"n":{"N":"-1.5"},"t":{"BOOL":true},"z":{"NULL":true},"b":{"B":"AAH/"},` +
		`"ss":{"SS":["x","y"]},"ns":{"NS":["1","2"]},"bs":{"BS":["AQ==","Ag=="]},"m":{"M":{"k":{"L":[{"S":"v"},{"M":{}}]}}},"l":{"L":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]types.AttributeValue{
		"s": &types.AttributeValueMemberS{Value: `a"b`}, "n": &types.AttributeValueMemberN{Value: "-1.5"},
		"t": &types.AttributeValueMemberBOOL{Value: true}, "z": &types.AttributeValueMemberNULL{Value: true},
		"b": &types.AttributeValueMemberB{Value: []byte{0, 1, 255}}, "ss": &types.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2"}}, "bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "v"}, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}}}}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %s", Show(&types.AttributeValueMemberM{Value: got}), Show(&types.AttributeValueMemberM{Value: want}))
	}
	for doc, msg := range map[string]string{
		`[]`:                           "decoding an item",
		`{"a":{"S":"x","N":"1"}}`:      `attribute "a": an attribute value has one member, not 2`,
		`{"a":{"X":"1"}}`:              `attribute "a": unknown attribute type "X"`,
		`{"a":{"S":1}}`:                `attribute "a": json: cannot unmarshal`,
		`{"a":{"L":[{"S":"x"},{}]}}`:   `attribute "a": element 1: an attribute value has one member, not 0`,
		`{"a":{"M":{"b":{"N":true}}}}`: `attribute "a": attribute "b": json: cannot unmarshal`,
	} {
		if _, err := ItemFromJSON([]byte(doc)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %v, want one saying %q", doc, err, msg)
		}
	}
}
