/** test/helpers/promql.ts reads what the real-Prometheus test relies on it to read. */
import { describe, expect, it } from 'vitest';
import { groupingLabels, valueParts, vectorSelectors } from '../helpers/promql.js';

describe('PromQL reading for tests', () => {
  it('finds selectors with their matchers, not functions, aggregations, keywords or label lists', () => {
    expect(
      vectorSelectors('sum by (service, le) (rate(a_bucket{service=~"$service", code=~"5.."}[5m])) / on (service) group_left (zone) max(b) > 0.5'),
    ).toEqual(['a_bucket{service=~"$service", code=~"5.."}', 'b']);
    expect(vectorSelectors('service:ratio_rate1h > 14.4 * scalar(waypost:budget:ratio)')).toEqual(['service:ratio_rate1h', 'waypost:budget:ratio']);
    expect(vectorSelectors('{__name__="x", a="}"}')).toEqual(['{__name__="x", a="}"}']);
    expect(vectorSelectors('vector(0.999)')).toEqual([]);
  });

  it('lists the labels of grouping and matching clauses', () => {
    expect(groupingLabels('sum by (instance, service) (x) == 0 and on (instance, service) sum without (le) (y) > 0')).toEqual([
      'instance',
      'service',
      'le',
    ]);
  });

  it('cuts threshold comparisons off each operand of and/or/unless', () => {
    expect(valueParts('sum by (s) (x{state="healthy"}) == 0\nand on (i, s)\nsum by (i, s) (x) > 0')).toEqual([
      'sum by (s) (x{state="healthy"})',
      'sum by (i, s) (x)',
    ]);
    expect(valueParts('(a > 14.4 * scalar(b) and c > 2) or (d < 1)')).toEqual(['a', 'c', 'd']);
    expect(valueParts('up{job="waypost"} == bool 0')).toEqual(['up{job="waypost"}']);
    expect(valueParts('sum(rate(x[1m])) / sum(rate(y[1m]))')).toEqual(['sum(rate(x[1m])) / sum(rate(y[1m]))']);
  });
});
