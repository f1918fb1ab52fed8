package main

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/ava-labs/avalanchego/snow/consensus/snowball"
)

// binomialTail is P(X >= atLeast) for X ~ Binomial(n, p): the chance that validators holding the
// share p of the stake answer for at least atLeast of a poll's n samples.
func binomialTail(n, atLeast int, p float64) float64 {
	lgN, _ := math.Lgamma(float64(n + 1))
	total := 0.0
	for i := atLeast; i <= n; i++ {
		lgI, _ := math.Lgamma(float64(i + 1))
		lgRest, _ := math.Lgamma(float64(n - i + 1))
		total += math.Exp(lgN - lgI - lgRest + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return total
}

// TestDefaultSnowParametersForThreeValidators pins the margins that defaultSubnetConfig was chosen
// for (its comment says why each matters): with three equal validators, one alone must not reach
// alpha, two must reach it in nearly every poll, and two of three connected must count as healthy.
func TestDefaultSnowParametersForThreeValidators(t *testing.T) {
	var config struct {
		Snow snowball.Parameters `json:"snowParameters"`
	}
	if err := json.Unmarshal([]byte(defaultSubnetConfig), &config); err != nil {
		t.Fatal(err)
	}
	snow := config.Snow
	if err := snow.Verify(); err != nil {
		t.Fatalf("AvalancheGo refuses the subnet's parameters: %v", err)
	}

	// A preference moves on alphaPreference votes, so that is the bar one validator must not clear.
	oneAlone := binomialTail(snow.K, snow.AlphaPreference, 1.0/3)
	if oneAlone > 1e-9 {
		t.Errorf("one validator of three reaches alphaPreference=%d of k=%d in %.2g of polls; a poll may then move a preference with no majority behind it", snow.AlphaPreference, snow.K, oneAlone)
	}
	twoOfThree := binomialTail(snow.K, snow.AlphaConfidence, 2.0/3)
	if twoOfThree < 0.99 {
		t.Errorf("two validators of three reach alphaConfidence=%d of k=%d in only %.3f of polls; with one stopped, beta=%d successes in a row take %.0f polls on average",
			snow.AlphaConfidence, snow.K, twoOfThree, snow.Beta, expectedPollsForRun(twoOfThree, snow.Beta))
	}
	// The share of the stake AvalancheGo's chain health check wants connected.
	if healthy := snow.MinPercentConnectedHealthy(); healthy > 2.0/3 {
		t.Errorf("the node calls a chain unhealthy below %.3f of the stake connected: two of three validators would fail it", healthy)
	}
}

// TestBinomialTailMatchesKnownValues checks the helper against the figures docs/findings.md quotes
// for k=20: one validator of three clears alpha=11 in about 3.8% of polls, two clear alpha=15 in
// about 30%.
func TestBinomialTailMatchesKnownValues(t *testing.T) {
	if got := binomialTail(20, 11, 1.0/3); math.Abs(got-0.0376) > 0.0005 {
		t.Fatalf("P(one validator of three answers for >= 11 of 20) = %.4f, want about 0.0376", got)
	}
	if got := binomialTail(20, 15, 2.0/3); math.Abs(got-0.297) > 0.001 {
		t.Fatalf("P(two validators of three answer for >= 15 of 20) = %.4f, want about 0.297", got)
	}
}

// expectedPollsForRun is the mean number of polls until run successes in a row, each poll
// succeeding with probability p.
func expectedPollsForRun(p float64, run int) float64 {
	return (1 - math.Pow(p, float64(run))) / ((1 - p) * math.Pow(p, float64(run)))
}
