// Time-series charts, drawn by uPlot (loaded by the page as window.uPlot): the produce
// rate of a topic and the lag of a group. A chart is made once and given new data on
// every sample, which uPlot redraws in well under a millisecond.

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9333ea', '#ea580c']

/**
 * A line chart in `container` of `series` ([{ label, values }]) over `times` (ms since
 * the epoch). Returns `update(times, series)`, which redraws it (with a new chart when the
 * series changed). The container's data-points and data-last tell what it shows.
 */
export function lineChart(container, { yLabel, height = 220 }) {
  let chart = null
  let labels = ''
  const width = () => Math.max(300, container.clientWidth)
  const resize = () => chart && chart.setSize({ width: width(), height })
  window.addEventListener('resize', resize)
  return (times, series) => {
    // uPlot takes seconds on its x axis; a series is drawn in its own colour, the first
    // (a total) thicker.
    const data = [times.map((t) => t / 1000), ...series.map((s) => s.values)]
    const key = series.map((s) => s.label).join('\0')
    if (!chart || key !== labels) {
      if (chart) chart.destroy()
      labels = key
      chart = new window.uPlot(
        {
          width: width(),
          height,
          legend: { live: false },
          cursor: { drag: { x: false, y: false } },
          scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{}, { label: yLabel, size: 60 }],
          series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: i === 0 ? 2 : 1, spanGaps: false }))],
        },
        data,
        container
      )
    } else {
      chart.setData(data)
    }
    const first = series[0] ? series[0].values : []
    const known = first.filter((v) => v !== null)
    container.dataset.points = String(known.length)
    container.dataset.last = known.length ? String(known[known.length - 1]) : ''
  }
}
