package scale

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
)

// A small line plotter on the standard library's image/png: panels stacked
// over one time axis, each with its own y axis, grid, tick labels and
// legend, and vertical markers (the last start, the stable view) across
// all of them. Just what the scale bench draws.

// point is one (x, y) of a series: x in seconds.
type point struct{ x, y float64 }

type series struct {
	name  string
	color color.RGBA
	pts   []point
}

// panel is one plot with its y axis.
type panel struct {
	title  string
	series []series
}

// marker is a vertical line at x seconds, across every panel.
type marker struct {
	x     float64
	label string
	color color.RGBA
}

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{0, 0, 0, 255}
	grey   = color.RGBA{150, 150, 150, 255}
	light  = color.RGBA{225, 225, 225, 255}
	blue   = color.RGBA{31, 90, 200, 255}
	red    = color.RGBA{205, 40, 40, 255}
	green  = color.RGBA{20, 150, 60, 255}
	orange = color.RGBA{230, 130, 0, 255}
)

const (
	plotW       = 1000
	panelH      = 280
	marginLeft  = 80
	marginRight = 20
	marginTop   = 44
	panelGap    = 56
	marginBot   = 44
)

// drawPlot writes the panels as a PNG to path.
func drawPlot(path, title string, panels []panel, markers []marker) error {
	h := marginTop + len(panels)*panelH + (len(panels)-1)*panelGap + marginBot
	img := image.NewRGBA(image.Rect(0, 0, plotW, h))
	fill(img, img.Bounds(), white)
	drawText(img, marginLeft, 12, title, black, 2)
	xmax := 1.0
	for _, p := range panels {
		for _, s := range p.series {
			for _, pt := range s.pts {
				xmax = math.Max(xmax, pt.x)
			}
		}
	}
	xticks := niceTicks(xmax, 10)
	xmax = math.Max(xmax, xticks[len(xticks)-1])
	for i, p := range panels {
		top := marginTop + i*(panelH+panelGap)
		area := image.Rect(marginLeft, top+14, plotW-marginRight, top+panelH)
		drawPanel(img, area, p, xmax, xticks, markers, i == len(panels)-1)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

func drawPanel(img *image.RGBA, area image.Rectangle, p panel, xmax float64, xticks []float64, markers []marker, last bool) {
	drawText(img, area.Min.X, area.Min.Y-12, p.title, black, 1)
	ymax := 0.0
	for _, s := range p.series {
		for _, pt := range s.pts {
			ymax = math.Max(ymax, pt.y)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	yticks := niceTicks(ymax*1.05, 6)
	ymax = yticks[len(yticks)-1]
	px := func(x float64) int { return area.Min.X + int(math.Round(x/xmax*float64(area.Dx()))) }
	py := func(y float64) int { return area.Max.Y - int(math.Round(y/ymax*float64(area.Dy()))) }
	for _, t := range yticks {
		y := py(t)
		hline(img, area.Min.X, area.Max.X, y, light)
		l := tickLabel(t)
		drawText(img, area.Min.X-6-textWidth(l, 1), y-3, l, black, 1)
	}
	for _, t := range xticks {
		x := px(t)
		vline(img, x, area.Min.Y, area.Max.Y, light, 1)
		l := tickLabel(t)
		drawText(img, x-textWidth(l, 1)/2, area.Max.Y+6, l, black, 1)
	}
	if last {
		l := "time since the first node started (s)"
		drawText(img, area.Min.X+(area.Dx()-textWidth(l, 1))/2, area.Max.Y+20, l, black, 1)
	}
	for i, m := range markers {
		vline(img, px(m.x), area.Min.Y, area.Max.Y, m.color, 4)
		drawText(img, px(m.x)+3, area.Min.Y+2+12*i, m.label, m.color, 1)
	}
	for _, s := range p.series {
		for i := 1; i < len(s.pts); i++ {
			line(img, px(s.pts[i-1].x), py(s.pts[i-1].y), px(s.pts[i].x), py(s.pts[i].y), s.color)
		}
		if len(s.pts) == 1 {
			fill(img, image.Rect(px(s.pts[0].x)-1, py(s.pts[0].y)-1, px(s.pts[0].x)+2, py(s.pts[0].y)+2), s.color)
		}
	}
	// Axes, and the legend at the top right.
	hline(img, area.Min.X, area.Max.X, area.Max.Y, black)
	vline(img, area.Min.X, area.Min.Y, area.Max.Y, black, 1)
	lx, ly := area.Max.X-4, area.Min.Y+4
	for _, s := range p.series {
		w := textWidth(s.name, 1)
		fill(img, image.Rect(lx-w-16, ly, lx-w-6, ly+7), s.color)
		drawText(img, lx-w, ly, s.name, black, 1)
		ly += 12
	}
}

// niceTicks returns ticks from 0 at a step of 1, 2 or 5 times a power of
// ten, about n of them, the last at or above max.
func niceTicks(max float64, n int) []float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for i := 0; i <= 2*n+2; i++ {
		t := float64(i) * step
		ticks = append(ticks, t)
		if t >= max {
			break
		}
	}
	return ticks
}

// tickLabel writes a tick value briefly: 0, 2.5, 10, 1200.
func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

// vline draws a vertical line, dashed when dash > 1 (dash pixels on, dash
// off).
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA, dash int) {
	for y := y0; y <= y1; y++ {
		if dash <= 1 || (y-y0)/dash%2 == 0 {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a line two pixels thick (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for i := 0; i <= dx-dy+1; i++ {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0+1, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
